"""ONVIF credentials file: YAML/JSON, one-line errors, and the password never shown."""

from __future__ import annotations

import logging
import os

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


def test_yaml_and_json(tmp_path):
    c = load_credentials(write(tmp_path, f"username: admin\npassword: '{SECRET}'\n"))
    assert (c.username, c.password) == ("admin", SECRET)
    c = load_credentials(write(tmp_path, f'{{"username": "op", "password": "{SECRET}"}}'))
    assert (c.username, c.password) == ("op", SECRET)
    assert SECRET not in repr(c) and SECRET not in str(c)


def test_world_readable_file_warns_but_loads(tmp_path, caplog):
    path = write(tmp_path, f"username: a\npassword: '{SECRET}'\n", 0o644)
    seen: list[str] = []
    assert load_credentials(path, warn=seen.append).username == "a"
    assert len(seen) == 1 and "readable by every user" in seen[0]
    with caplog.at_level(logging.WARNING, logger="camscan"):
        load_credentials(path)
    assert "chmod 600" in caplog.text and SECRET not in caplog.text
    seen.clear()
    load_credentials(
        write(tmp_path, f"username: a\npassword: '{SECRET}'\n", 0o600), warn=seen.append
    )
    assert seen == []


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
