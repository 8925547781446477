"""Text out of device web pages: which charset to decode with, the <title>, a capped snippet.

Pure functions over bytes. Nothing here raises: a page in a broken or hostile encoding still
decodes (with replacement characters), and control characters never reach a terminal.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from html import unescape

TITLE_MAX = 256  # characters of a <title> kept
SNIPPET_MAX = 4096  # characters of a body snippet kept
_TITLE_SCAN = 64 * 1024  # bytes of a page searched for <title>
_META_SCAN = 4096  # bytes of a page searched for <meta charset>

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
_TITLE = re.compile(r"<title\b[^>]{0,256}>([^<]{0,4096})", re.I)
# Codecs a hostile page could name that are no text encoding of a web page (or that raise).
_REFUSED_CODECS = frozenset(
    {"idna", "punycode", "unicode_escape", "raw_unicode_escape", "utf_7", "undefined", "mbcs"}
)
# What browsers really use for some declared labels (WHATWG Encoding Standard).
_BROWSER_CODEC = {"latin_1": "cp1252", "ascii": "cp1252", "iso8859_1": "cp1252", "gb2312": "gbk"}


def clean_text(text: str, limit: int) -> str:
    """Collapse whitespace, drop control characters, cut to `limit` characters."""
    if any(unicodedata.category(c) == "Cc" for c in text if not c.isspace()):
        text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(text.split())[:limit]


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label).name.replace("-", "_")
    except (LookupError, ValueError):
        return None
    if name in _REFUSED_CODECS:
        return None
    return _BROWSER_CODEC.get(name, name)


def header_charset(content_type: str | None) -> str | None:
    """The codec named by a Content-Type header's charset parameter (None if absent/unknown)."""
    if not content_type:
        return None
    m = _HEADER_CHARSET.search(content_type)
    return _codec(m.group(1)) if m else None


def sniff_charset(body: bytes, content_type: str | None) -> str:
    """Charset of a page: BOM, then the header, then <meta>, else UTF-8."""
    if body.startswith(codecs.BOM_UTF8):
        return "utf_8_sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf_16"
    declared = header_charset(content_type)
    if declared:
        return declared
    m = _META_CHARSET.search(body[:_META_SCAN])
    if m:
        meta = _codec(m.group(1).decode("ascii", "replace"))
        # A <meta> claiming UTF-16 in a page we could read as ASCII is a lie (WHATWG rule).
        if meta and not meta.startswith("utf_16") and not meta.startswith("utf_32"):
            return meta
    return "utf_8"


def decode_text(body: bytes, content_type: str | None) -> str:
    """Decode a page the way a browser would, never failing."""
    charset = sniff_charset(body, content_type)
    try:
        return body.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return body.decode("utf_8", errors="replace")


def raw_title(body: bytes, content_type: str | None) -> str | None:
    """The page's <title> text as the page has it (entities resolved, nothing cleaned)."""
    if b"<" not in body[:_TITLE_SCAN] and not body.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        return None
    text = decode_text(body[:_TITLE_SCAN], content_type)
    m = _TITLE.search(text)
    return unescape(m.group(1)) if m else None


def parse_title(body: bytes, content_type: str | None) -> str | None:
    """The page's <title> text (entities resolved, whitespace collapsed, <= 256 chars)."""
    title = raw_title(body, content_type)
    return (clean_text(title, TITLE_MAX) or None) if title is not None else None


def has_controls(text: str) -> bool:
    """True when text holds control characters other than tab and line breaks (a terminal
    escape, a bell, a NUL...) or undecodable bytes (U+FFFD)."""
    return any(
        (unicodedata.category(c) == "Cc" and c not in "\t\r\n") or c == "\ufffd" for c in text
    )


def looks_binary(body: bytes, content_type: str | None) -> bool:
    """True for images, archives and other bytes that are no text worth a snippet."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith(("image/", "audio/", "video/", "font/")):
        return True
    if media in {"application/octet-stream", "application/zip", "application/gzip",
                 "application/pdf", "application/x-msdownload"}:  # fmt: skip
        return True
    head = body[:512]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return b"\x00" in head


def body_snippet(body: bytes, content_type: str | None, limit: int = SNIPPET_MAX) -> str:
    """The start of a text body: decoded, whitespace collapsed, cut to `limit` characters."""
    # Four bytes per character covers any UTF-8 text; more would only be cut off again.
    return clean_text(decode_text(body[: limit * 4], content_type), limit)


def header_is_dirty(value: str) -> bool:
    """has_controls for a header value decoded as latin-1 (as HTTP and RTSP heads are): the
    bytes are judged as UTF-8, where C1 bytes are ordinary continuation bytes, so only a real
    control character or a decode failure counts."""
    if value.isascii():
        return has_controls(value)
    try:
        return has_controls(value.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        return True
