"""HTTP/1.x message framing for passive mode: request lines, response heads, the body start.

Only what is needed to hand a response seen on the wire to camscan.discovery.http's
http_evidence: status, headers as sent, and the first bytes of the body (de-chunked). The head
is read by camscan.discovery.httpframe, as the active fallback reads it.
"""

from __future__ import annotations

from camscan.discovery import httpframe
from camscan.discovery.httpframe import head_end
from camscan.errors import ParseError

_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"OPTIONS ", b"DESCRIBE ", b"DELETE ")


def is_request(payload: bytes) -> bool:
    return payload.startswith(_METHODS)


def request_line(payload: bytes) -> tuple[str, str] | None:
    """(method, target) of a request's first line, or None."""
    line = payload[:2048].split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ")
    if len(parts) < 2:
        return None
    return parts[0].decode("ascii", "replace"), parts[1].decode("latin-1")


def parse_head(buf: bytes) -> tuple[int, list[tuple[str, str]], int]:
    """(status, headers in order, offset of the body) of a response; ParseError if no head."""
    end = head_end(buf)
    if end < 0:
        raise ParseError("response head incomplete")
    status, headers = httpframe.parse_head(buf[:end])
    return status, headers, end


def header_value(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def complete(buf: bytes | bytearray, head_only: bool) -> bool:
    """True when nothing more is needed: the head plus (unless head_only) the whole body or
    its start up to the buffer cap (the caller stops at the cap anyway)."""
    end = head_end(buf)
    if end < 0:
        return False
    if head_only:
        return True
    try:
        status, headers, _ = parse_head(bytes(buf[:end]))
    except ParseError:
        return True  # nothing to wait for
    if status < 200 or status in (204, 304):
        return True
    te = (header_value(headers, "transfer-encoding") or "").lower()
    if "chunked" in te:
        return b"\r\n0\r\n\r\n" in buf[end - 2 :] or buf[end:].startswith(b"0\r\n\r\n")
    length = header_value(headers, "content-length")
    if length is not None and length.strip().isdigit():
        return len(buf) - end >= int(length)
    return False


def dechunk(body: bytes) -> bytes:
    """The data of a chunked body, as far as it goes (a cut-off last chunk is kept)."""
    return httpframe.dechunk(body)[0]
