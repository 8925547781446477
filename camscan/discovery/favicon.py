"""Favicon hashes in the two conventions fingerprint sources use."""

from __future__ import annotations

import base64
import hashlib

import mmh3

_HTML_MARKERS = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<meta")


def favicon_hashes(data: bytes) -> tuple[str, str]:
    """(mmh3, md5) of favicon bytes.

    mmh3 is Shodan's `http.favicon.hash`: signed 32-bit MurmurHash3 (seed 0) of the base64 text
    *with* a newline after every 76 characters and at the end (base64.encodebytes), which is
    why plain b64encode gives different numbers. md5 is the hex digest of the raw bytes
    (recog, nmap favicon-db).
    """
    mmh = mmh3.hash(base64.encodebytes(data), 0, signed=True)
    return str(mmh), hashlib.md5(data, usedforsecurity=False).hexdigest()


def is_icon(status: int, content_type: str | None, body: bytes) -> bool:
    """True when a /favicon.ico answer is an icon, not a login page served for every path."""
    if status != 200 or not body:
        return False
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in {"text/html", "application/xhtml+xml"}:
        return False
    head = body[:512].lstrip().lower()
    return not any(marker in head for marker in _HTML_MARKERS)
