"""ONVIF credentials from a small user file (YAML or JSON):

    username: admin
    password: "the password"
    hosts: [10.1.0.0/24, 10.2.5.17]      # required: the only addresses they may be sent to

The credentials go to the addresses `hosts:` names (addresses and IPv4 CIDRs) and nowhere else,
whatever else answers ONVIF. The file must be readable by its owner alone (chmod 600): a file
group or other users can read is refused. The password never appears in a repr, a log line, an
exception message or any output: parse errors name the file and a line number, never the
offending text.
"""

from __future__ import annotations

import ipaddress
import json
import stat
from pathlib import Path

import yaml

from camscan.discovery.base import Credentials
from camscan.errors import UsageError

MAX_FILE = 64 * 1024
ALLOWED_KEYS = ("username", "password", "hosts")
MAX_HOSTS = 256


def load_credentials(path: Path) -> Credentials:
    """Read a credentials file; UsageError (one line, no secret in it) when it is unusable,
    a file group or other users can read included (checked before a byte of it is read)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"credentials file {path}: not a regular file")
        if info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            raise UsageError(
                f"credentials file {path}: readable by group or other users; chmod 600 it"
            )
        if info.st_size > MAX_FILE:
            raise UsageError(f"credentials file {path}: too large (over {MAX_FILE} bytes)")
        raw = path.read_bytes()[: MAX_FILE + 1]
    except OSError as exc:
        raise UsageError(f"cannot read credentials file {path}: {exc.strerror}") from None
    return parse_credentials(raw, str(path))


def parse_credentials(raw: bytes, name: str = "credentials") -> Credentials:
    """Credentials from the bytes of a YAML or JSON file (`name` is used in messages)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"credentials file {name}: not UTF-8 text") from None
    data = _load(text, name)
    if not isinstance(data, dict):
        raise UsageError(f"credentials file {name}: expected 'username:' and 'password:' keys")
    unknown = sorted(str(k) for k in data if k not in ALLOWED_KEYS)
    if unknown:
        shown = ", ".join(k[:32] for k in unknown[:5])
        raise UsageError(f"credentials file {name}: unknown key(s) {shown}")
    username = data.get("username")
    password = data.get("password")
    if not isinstance(username, str) or not username.strip():
        raise UsageError(f"credentials file {name}: 'username' must be a non-empty string")
    if not isinstance(password, str):
        # YAML reads 0123 as 83 and yes as True: a password must be quoted to be kept as typed.
        raise UsageError(f"credentials file {name}: 'password' must be a (quoted) string")
    if any(ord(c) < 32 or ord(c) == 127 for c in username + password):
        raise UsageError(f"credentials file {name}: control characters are not allowed")
    return Credentials(username=username, password=password, hosts=_hosts(data, name))


def _hosts(data: dict[object, object], name: str) -> tuple[ipaddress.IPv4Network, ...]:
    """`hosts:` as networks: a list (or one string) of IPv4 addresses and CIDRs, required."""
    raw = data.get("hosts")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise UsageError(
            f"credentials file {name}: 'hosts' is required: the addresses and CIDRs the "
            "credentials may be sent to"
        )
    if len(raw) > MAX_HOSTS:
        raise UsageError(f"credentials file {name}: more than {MAX_HOSTS} 'hosts' entries")
    out: list[ipaddress.IPv4Network] = []
    for i, item in enumerate(raw, 1):
        try:
            if not isinstance(item, str):
                raise ValueError
            out.append(ipaddress.IPv4Network(item.strip(), strict=False))
        except ValueError:
            raise UsageError(
                f"credentials file {name}: 'hosts' entry {i} is not an IPv4 address or CIDR"
            ) from None
    return tuple(dict.fromkeys(out))


def _load(text: str, name: str) -> object:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:  # its message holds no file content
            raise UsageError(
                f"credentials file {name}: invalid JSON at line {exc.lineno}"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The YAML message quotes the offending line, which may be the password: not shown.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"credentials file {name}: invalid YAML{where}") from None
