"""HTTP/1.x response framing, read leniently: where the head ends, its status and headers, a
chunked body's data. Shared by the active fallback (camscan.discovery.rawhttp) and passive
mode (camscan.passive.httphead), so a device's head reads the same asked or overheard.

Lenient on purpose (old camera firmware is not RFC 9112-clean): lines end at LF only (VT, FF
and the like are data, not line breaks), a header line needs only a colon and a name, bare-LF
heads are accepted. Bounded: at most MAX_HEAD bytes of head and MAX_HEADERS headers."""

from __future__ import annotations

import re

from camscan.errors import ParseError

MAX_HEAD = 16 * 1024
MAX_HEADERS = 256
_STATUS = re.compile(rb"HTTP/\d\.\d[ \t]+(\d{3})(?![0-9])")
_CHUNK = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,8})[^\n]{0,256}\n")
_C0_AND_SPACE = bytes(range(33))


def head_end(buf: bytes | bytearray) -> int:
    """Length of the head with its blank line (CRLF CRLF, or bare LFs as some firmware
    sends), or -1 while it is incomplete."""
    ends = [
        i + len(mark)
        for mark in (b"\r\n\r\n", b"\n\r\n", b"\n\n")
        if (i := buf.find(mark, 0, MAX_HEAD)) >= 0
    ]
    return min(ends, default=-1)


def parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    """(status, headers as sent) of a response head, leniently: lines end at LF (VT, FF and
    the like are data, not line breaks), a header line needs a colon and a name, obsolete
    folding is joined. ParseError when the first line is no HTTP status line."""
    lines = head[:MAX_HEAD].split(b"\n")
    m = _STATUS.match(lines[0].lstrip())
    if not m:
        raise ParseError("not an HTTP status line")
    headers: list[tuple[str, str]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip().decode('latin-1')}")
            continue
        name, sep, value = line.partition(b":")
        name = name.strip(_C0_AND_SPACE)
        if sep and name and len(headers) < MAX_HEADERS:
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return int(m.group(1)), headers


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """(data of a chunked body as far as it goes, whether its last chunk was seen)."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        m = _CHUNK.match(data, i)
        if not m:
            break
        size = int(m.group(1), 16)
        if size == 0:
            return b"".join(out), True
        out.append(data[m.end() : m.end() + size])
        i = m.end() + size
        i += 2 if data[i : i + 2] == b"\r\n" else 1
    return b"".join(out), False
