"""A last-resort GET for devices whose answers httpx refuses: a NUL, VT or FF byte in a header,
a header line without a colon, a status line with junk after the code. h11 is strict about
such heads (RFC 9112 section 5), and old camera firmware is not; one refused head would lose
the device all its HTTP evidence.

Same request as httpfetch.fetch sends, over a plain or TLS socket, and the same bounds: one
deadline over the whole exchange, at most MAX_HEAD bytes of head and `max_body` bytes of body.
The head is read leniently (camscan.discovery.httpframe) and its values are
kept as sent, decoded as latin-1 like httpx does: cleaning them is left to the evidence code
(html.clean_text), which also notes that they were dirty.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from camscan.discovery.httpfetch import USER_AGENT, HttpReply, header
from camscan.discovery.httpframe import MAX_HEAD, dechunk, head_end, parse_head
from camscan.discovery.tlsinfo import client_ssl_context
from camscan.errors import ParseError

_READ = 64 * 1024


async def raw_get(
    ip: str,
    port: int,
    path: str,
    *,
    tls: bool,
    deadline: float,
    connect_timeout: float,
    max_body: int,
) -> HttpReply:
    """GET `path` from ip:port by hand. Raises TimeoutError when no head arrived in time,
    OSError or ssl.SSLError when there was no connection, ParseError when what came is no
    HTTP head; a body cut short is returned as far as it came, with truncated=True."""
    if not path.startswith("/") or not all("!" <= c <= "~" for c in path):
        raise ValueError("path must be printable ASCII without spaces")  # no header smuggling
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with asyncio.timeout_at(min(end, loop.time() + connect_timeout)):
        reader, writer = await asyncio.open_connection(
            ip, port, ssl=client_ssl_context() if tls else None
        )
    try:
        writer.write(request_bytes(ip, port, path, tls=tls))
        buf = bytearray()
        async with asyncio.timeout_at(end):
            await writer.drain()
            while (head_len := head_end(buf)) < 0:
                if len(buf) >= MAX_HEAD:
                    raise ParseError(f"response head over {MAX_HEAD} bytes")
                chunk = await reader.read(MAX_HEAD - len(buf))
                if not chunk:
                    if not buf:
                        raise ParseError("closed without answering")
                    head_len = len(buf)  # closed after the head: all that came is the head
                    break
                buf += chunk
        status, headers = parse_head(bytes(buf[:head_len]))
        body, truncated = await _read_body(
            reader, bytes(buf[head_len:]), headers, status, end, max_body
        )
        ssl_object = writer.get_extra_info("ssl_object")
        cert = (ssl_object.getpeercert(binary_form=True) or b"") if ssl_object else None
    finally:
        writer.transport.abort()  # no close_notify dance with a device that sends such heads
    url = f"{'https' if tls else 'http'}://{ip}:{port}{path}"
    return HttpReply(url, status, headers, body, truncated, peer_cert=cert)


def request_bytes(ip: str, port: int, path: str, *, tls: bool) -> bytes:
    """The request httpx sends for a GET with httpfetch's client."""
    host = ip if port == (443 if tls else 80) else f"{ip}:{port}"
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n"
        "Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


async def _read_body(
    reader: asyncio.StreamReader,
    start: bytes,
    headers: list[tuple[str, str]],
    status: int,
    end: float,
    max_body: int,
) -> tuple[bytes, bool]:
    """The body as far as it came within the deadline and cap: (body, truncated)."""
    if status < 200 or status in (204, 304):
        return b"", False
    chunked = "chunked" in (header(headers, "transfer-encoding") or "").lower()
    length_text = (header(headers, "content-length") or "").strip()
    length = int(length_text) if length_text.isdigit() and len(length_text) < 19 else None
    if chunked:
        want = max_body + MAX_HEAD  # chunk framing costs bytes of its own: read a little more
    else:
        want = max_body if length is None else min(max_body, length)
    data = bytearray(start[:want])
    closed = False
    with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
        async with asyncio.timeout_at(end):
            while len(data) < want and not (chunked and _last_chunk_in(data)):
                chunk = await reader.read(min(_READ, want - len(data)))
                if not chunk:
                    closed = True
                    break
                data += chunk
    if chunked:
        body, last = dechunk(bytes(data))
        return body[:max_body], len(body) > max_body or not last
    if length is not None:
        return bytes(data), len(data) < length
    return bytes(data), not closed


def _last_chunk_in(data: bytearray) -> bool:
    # Only a buffer ending in a blank line can hold the whole body: dechunk just then.
    return data.endswith((b"\n\r\n", b"\n\n")) and dechunk(bytes(data))[1]
