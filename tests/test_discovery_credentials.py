"""ONVIF credentials file: YAML/JSON, one-line errors, and the password never shown."""

from __future__ import annotations

import logging
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.credentials import load_credentials, parse_credentials
from camscan.errors import UsageError

SECRET = "Tr0ub4dor&3-very-secret"


def write(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / "creds.yaml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


HOSTS = "hosts: [10.1.0.0/24, 10.2.5.17]\n"


def test_yaml_and_json(tmp_path):
    c = load_credentials(write(tmp_path, f"username: admin\npassword: '{SECRET}'\n{HOSTS}"))
    assert (c.username, c.password) == ("admin", SECRET)
    assert [str(n) for n in c.hosts] == ["10.1.0.0/24", "10.2.5.17/32"]
    c = load_credentials(
        write(tmp_path, f'{{"username": "op", "password": "{SECRET}", "hosts": "10.9.0.0/16"}}')
    )
    assert (c.username, c.password) == ("op", SECRET)
    assert SECRET not in repr(c) and SECRET not in str(c)
    assert c.allows("10.9.200.1") and not c.allows("10.8.0.1") and not c.allows("junk")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666, 0o440])
def test_a_file_group_or_others_can_read_is_refused(tmp_path, mode, caplog):
    path = write(tmp_path, f"username: a\npassword: '{SECRET}'\n{HOSTS}", mode)
    with caplog.at_level(logging.DEBUG), pytest.raises(UsageError) as err:
        load_credentials(path)
    message = str(err.value)
    assert "readable by group or other users" in message and "chmod 600" in message
    assert "\n" not in message and SECRET not in message and SECRET not in caplog.text
    assert load_credentials(write(tmp_path, path.read_text(), 0o600)).username == "a"
    assert load_credentials(write(tmp_path, path.read_text(), 0o400)).username == "a"


@pytest.mark.parametrize(
    "hosts, fragment",
    [
        ("", "'hosts' is required"),
        ("hosts: []\n", "'hosts' is required"),
        ("hosts: {a: 1}\n", "'hosts' is required"),
        ("hosts: [10.1.0.0/24, my-camera]\n", "'hosts' entry 2 is not"),
        ("hosts: [10.1.0.0/24, 7]\n", "'hosts' entry 2 is not"),
        ("hosts: ['fe80::1']\n", "'hosts' entry 1 is not"),
    ],
)
def test_hosts_is_required_and_checked(tmp_path, hosts, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)) as err:
        load_credentials(write(tmp_path, f"username: a\npassword: '{SECRET}'\n{hosts}"))
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        (f"username: admin\npassword: '{SECRET}\n", "invalid YAML"),  # unterminated quote
        (f'{{"username": "admin", "password": "{SECRET}"', "invalid JSON"),
        (f"- admin\n- {SECRET}\n", "expected 'username:'"),
        (f"username: admin\npasword: {SECRET}\n", "unknown key(s) pasword"),
        (f"password: {SECRET}\n", "'username' must be"),
        ("username: admin\npassword: 0123\n", "must be a (quoted) string"),
        ("username: admin\n", "must be a (quoted) string"),
        (f'username: "ad\\x01min"\npassword: "{SECRET}"\n', "control characters"),
    ],
)
def test_bad_files_are_one_line_usage_errors_without_the_secret(tmp_path, text, fragment):
    with pytest.raises(UsageError) as info:
        load_credentials(write(tmp_path, text))
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert SECRET not in message
    # No chained parser exception (whose text could quote the file) rides along.
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_unreadable_paths(tmp_path):
    with pytest.raises(UsageError, match="cannot read credentials file"):
        load_credentials(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="not a regular file"):
        load_credentials(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 70_000)
    big.chmod(0o600)
    with pytest.raises(UsageError, match="too large"):
        load_credentials(big)
    with pytest.raises(UsageError, match="not UTF-8"):
        parse_credentials(b"username: \xff\n")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_credentials_or_usage_error(raw):
    try:
        c = parse_credentials(raw)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(c.username, str) and isinstance(c.password, str)
