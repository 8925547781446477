"""Checking the credentials a client sent (HTTP/RTSP Authorization, ONVIF UsernameToken)
against a persona's lab credentials. Pure functions: text in, verdict out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from camscan.lab.personas import Credentials

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class AuthVerdict:
    ok: bool
    username: str | None
    scheme: str


def fresh_nonce() -> str:
    return secrets.token_hex(16)


def fill_nonce(header: str) -> str:
    return header.replace("${nonce}", fresh_nonce())


def check_authorization(header: str, method: str, creds: Credentials | None) -> AuthVerdict:
    """Verify a Basic or Digest (MD5 / SHA-256, with or without qop) Authorization value.
    Digest is checked against the client's own nonce: the lab does not track nonces."""
    scheme, _, rest = header.strip().partition(" ")
    scheme_l = scheme.lower()
    if scheme_l == "basic":
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode()
            user, _, password = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return AuthVerdict(False, None, "basic")
        ok = creds is not None and _eq(user, creds.username) and _eq(password, creds.password)
        return AuthVerdict(ok, user, "basic")
    if scheme_l == "digest":
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(rest)
        }
        user = params.get("username")
        if creds is None or user is None or not _eq(user, creds.username):
            return AuthVerdict(False, user, "digest")
        return AuthVerdict(_digest_ok(params, method, creds.password), user, "digest")
    return AuthVerdict(False, None, scheme_l or "unknown")


def _digest_ok(p: dict[str, str], method: str, password: str) -> bool:
    algo = (p.get("algorithm") or "MD5").upper()
    if algo in ("MD5", "MD5-SESS"):
        h = _md5
    elif algo in ("SHA-256", "SHA-256-SESS"):
        h = _sha256
    else:
        return False
    realm, nonce, uri = p.get("realm", ""), p.get("nonce", ""), p.get("uri", "")
    ha1 = h(f"{p['username']}:{realm}:{password}")
    if algo.endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{p.get('cnonce', '')}")
    ha2 = h(f"{method}:{uri}")
    qop = p.get("qop")
    if qop:
        expected = h(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:{qop}:{ha2}")
    else:
        expected = h(f"{ha1}:{nonce}:{ha2}")
    return _eq(expected, (p.get("response") or "").lower())


def check_password_digest(
    username: str, password_digest: str, nonce_b64: str, created: str, creds: Credentials | None
) -> bool:
    """ONVIF WS-Security PasswordDigest = Base64(SHA-1(nonce + created + password))."""
    if creds is None or not _eq(username, creds.username):
        return False
    try:
        nonce = base64.b64decode(nonce_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hashlib.sha1(nonce + created.encode() + creds.password.encode()).digest()  # noqa: S324
    return _eq(base64.b64encode(digest).decode(), password_digest.strip())


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _eq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
