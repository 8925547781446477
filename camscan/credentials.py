"""ONVIF credentials from a small user file (YAML or JSON):

    username: admin
    password: "the password"

The password never appears in a repr, a log line, an exception message or any output: parse
errors name the file and a line number, never the offending text.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import yaml

from camscan.discovery.base import Credentials
from camscan.errors import UsageError

MAX_FILE = 64 * 1024
ALLOWED_KEYS = ("username", "password")
_log = logging.getLogger("camscan")


def load_credentials(path: Path, *, warn: Callable[[str], None] | None = None) -> Credentials:
    """Read a credentials file; UsageError (one line, no secret in it) when it is unusable.

    A file other users can read is used, with a warning through `warn` (default: the log).
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"credentials file {path}: not a regular file")
        if info.st_size > MAX_FILE:
            raise UsageError(f"credentials file {path}: too large (over {MAX_FILE} bytes)")
        raw = path.read_bytes()[: MAX_FILE + 1]
    except OSError as exc:
        raise UsageError(f"cannot read credentials file {path}: {exc.strerror}") from None
    if info.st_mode & stat.S_IROTH:
        (warn or _log.warning)(f"credentials file {path} is readable by every user; chmod 600 it")
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
    return Credentials(username=username, password=password)


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
