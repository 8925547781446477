"""Hostile and broken devices: what a persona's `hostile_modes` make the simulator do.

The modes (names and one-line meanings in camscan.lab.personas.schema.HOSTILE_MODES):

* XML poison (`xml_bomb`, `xml_xxe`): the persona's normal WS-Discovery, SADP and UPnP
  documents get a DOCTYPE — ten nested entities of ten references each (a billion "lol"s once
  expanded), or external entities naming /etc/passwd and URLs on the device itself. A parser
  that fetched one of those URLs shows up in the audit log as `xxe_fetch`.
* `wsd_flood`: every WS-Discovery probe (each MessageID once) draws FLOOD ProbeMatches, each
  with a fresh endpoint UUID.
* HTTP streams (`http_huge_body`, `http_slowloris`, `http_endless_chunked`) answer every
  request; `http_control_chars` answers with terminal escapes, C0/C1 controls and invalid
  UTF-8 in its headers and title. Not NUL, VT or FF in a header (httpx then refuses the whole
  answer as not HTTP, which `garbage` covers) nor NUL in the body (a page with NUL bytes is
  binary to camscan, so its title would not be read at all).
* Connection-level modes (`tcp_reset`, `garbage`, `tls_garbage`, `rtsp_silent`) take a TCP
  connection before any protocol is spoken. `tcp_reset` resets it once the client spoke or
  after RESET_AFTER, so the port still looks open (the handshake completed).
* `liar`: SADP and Dahua answers state `device.claim_ip` / `device.claim_mac`.

Every stream ends after STREAM_SECONDS or when the client goes away, whichever comes first,
so a hostile persona never keeps the simulator busy after a scan."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import struct
import uuid
from typing import Any

from camscan.lab.devsim.wire import Request
from camscan.lab.personas import Persona

STREAM_SECONDS = 60.0  # the longest any hostile answer lasts
HUGE_BODY = 1 << 30  # announced (and streamed, if the client kept reading) by http_huge_body
STREAM_CHUNK = 64 * 1024
FLOOD = 500  # ProbeMatches per WS-Discovery probe from a wsd_flood persona
GARBAGE_SIZE = 700
XXE_PATHS = ("/xxe-canary", "/xxe-dtd")
READ_WAIT = 5.0  # how long tls_garbage waits for the ClientHello
RESET_AFTER = 0.3  # tcp_reset waits this long for the client's first bytes, then resets

HTTP_STREAM_MODES = ("http_slowloris", "http_huge_body", "http_endless_chunked")

# Text a terminal would act on: clear screen, window title, bell, CSI (7-bit and C1), DEL,
# a bidi override and bytes that are not UTF-8 at all.
HOSTILE_SERVER = b"Cam\x1b[2J\x1b]0;owned\x07Web\x9b31m\x7f\xff\xfe/1.0"
HOSTILE_TITLE = (
    b"\x1b[31mRED\x1b[0m \x07bell \x08\x7f \xc3\x28 bad-utf8 \xed\xa0\x80 surrogate "
    b"\xe2\x80\xae RLO \xc2\x9b1m C1-CSI \x1b]8;;http://198.18.0.1/\x1b\\link"
)


def has_any(persona: Persona, *modes: str) -> bool:
    return any(persona.mode(m) for m in modes)


# -- bytes ------------------------------------------------------------------------------------


def garbage(persona: Persona, salt: str = "", size: int = GARBAGE_SIZE) -> bytes:
    """Random bytes, the same for the same persona and salt (reproducible runs)."""
    return random.Random(f"{persona.name}/{salt}").randbytes(size)


def _bomb_doctype(root: str) -> str:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f"<!DOCTYPE {root} [{''.join(entities)}]>"


def _xxe_doctype(root: str, persona: Persona) -> str:
    base = f"http://{persona.ip}:{_http_port(persona)}"
    return (
        f"<!DOCTYPE {root} ["
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">'
        f'<!ENTITY canary SYSTEM "{base}{XXE_PATHS[0]}">'
        f'<!ENTITY % remote SYSTEM "{base}{XXE_PATHS[1]}"> %remote;'
        "]>"
    )


def _http_port(persona: Persona) -> int:
    ports = persona.block("http").get("ports") or [80]
    return int(ports[0])


def poisoned(persona: Persona, xml: bytes, root: str, element: str) -> bytes:
    """The persona's document with an entity bomb or external entities (by its mode) put in
    front of the root and referenced from the first `element` (local name). Unchanged when
    the persona has neither mode."""
    if persona.mode("xml_bomb"):
        doctype, ref = _bomb_doctype(root), "&lol9;"
    elif persona.mode("xml_xxe"):
        doctype, ref = _xxe_doctype(root, persona), "&xxe;&canary;"
    else:
        return xml
    text = xml.decode("utf-8")
    end = text.find("?>") + 2 if text.startswith("<?xml") else 0
    text = text[:end] + doctype + text[end:]
    pattern = re.compile(rf"(<(?:[\w.-]+:)?{re.escape(element)}(?:\s[^>]*)?>)[^<]*")
    text = pattern.sub(lambda m: m.group(1) + ref, text, count=1)
    return text.encode("utf-8")


def claimed(persona: Persona) -> tuple[str, str]:
    """(ip, mac) a liar states in its discovery answers (its own without `liar`)."""
    if not persona.mode("liar"):
        return persona.ip, persona.mac
    return (
        persona.device.get("claim_ip", persona.ip),
        persona.device.get("claim_mac", persona.mac).lower(),
    )


# -- TCP connections --------------------------------------------------------------------------


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (linger 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def take_connection(
    persona: Persona,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    port: int,
    tls: bool = False,
    rtsp: bool = False,
) -> bool:
    """Serve a freshly accepted connection the hostile way; False: serve it normally."""
    if persona.mode("tcp_reset"):
        # Reset once the client has spoken (or after a moment): a reset racing the handshake
        # would make the port look closed, which is another case.
        with contextlib.suppress(TimeoutError, OSError):
            await asyncio.wait_for(reader.read(1), RESET_AFTER)
        reset(writer)
        return True
    if persona.mode("garbage") or (tls and persona.mode("tls_garbage")):
        with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError):
            if tls:  # answer the ClientHello, like a broken TLS stack would
                await asyncio.wait_for(reader.read(4096), READ_WAIT)
            writer.write(garbage(persona, f"tcp{port}"))
            await asyncio.wait_for(writer.drain(), READ_WAIT)
            # Half-close, then read what the client sends until it leaves: closing with its
            # request unread would reset the connection, and the client could see the reset
            # before the garbage (a race the tests would inherit).
            if writer.can_write_eof():
                writer.write_eof()
            await _swallow(reader)
        writer.close()
        return True
    if rtsp and persona.mode("rtsp_silent"):
        await _swallow(reader)
        writer.close()
        return True
    return False


async def _swallow(reader: asyncio.StreamReader) -> None:
    """Read and ignore whatever arrives until the client leaves or time is up."""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(STREAM_SECONDS):
            while await reader.read(4096):
                pass


def streams_http(persona: Persona) -> bool:
    return has_any(persona, *HTTP_STREAM_MODES)


async def stream_http(persona: Persona, req: Request, writer: asyncio.StreamWriter) -> None:
    """Answer one HTTP request with the persona's endless or crawling stream."""
    title = f"<html><head><title>{persona.name}</title></head><body>".encode()
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(STREAM_SECONDS):
            if persona.mode("http_slowloris"):
                await _slowloris(writer)
            elif persona.mode("http_huge_body"):
                await _huge(writer, title, req.method == "HEAD")
            else:
                await _chunked(writer, title, req.method == "HEAD")


async def _slowloris(writer: asyncio.StreamWriter) -> None:
    head = b"HTTP/1.1 200 OK\r\nServer: SlowCam/1.0\r\n" + b"X-Pad: " + b"." * 4096
    for byte in head:
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def _huge(writer: asyncio.StreamWriter, title: bytes, head_only: bool) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nServer: HugeCam/1.0\r\nContent-Type: text/html\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % HUGE_BODY
    )
    if head_only:
        return
    writer.write(title)
    sent = len(title)
    filler = (b"<p>" + b"A" * 1021) * (STREAM_CHUNK // 1024)
    while sent < HUGE_BODY and not writer.is_closing():
        chunk = filler[: HUGE_BODY - sent]
        writer.write(chunk)
        sent += len(chunk)
        await writer.drain()


async def _chunked(writer: asyncio.StreamWriter, title: bytes, head_only: bool) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nServer: ChunkCam/1.0\r\nContent-Type: text/html\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    if head_only:
        return
    writer.write(b"%x\r\n%s\r\n" % (len(title), title))
    piece = b"<p>" + b"B" * 8189
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    while not writer.is_closing():
        writer.write(frame)
        await writer.drain()


def control_chars_answer(head_only: bool) -> bytes:
    """An HTTP answer whose Server header and <title> are made to attack a terminal."""
    body = b"<html><head><title>" + HOSTILE_TITLE + b"</title></head><body></body></html>\n"
    head = (
        b"HTTP/1.1 200 OK\r\nServer: " + HOSTILE_SERVER + b"\r\n"
        b"X-Note: \x1b[1mbold\x1b[0m\x08\x08\x01\x1f\r\n"
        b"Content-Type: text/html\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    )
    return head if head_only else head + body


# -- UDP --------------------------------------------------------------------------------------


def flood_replies(persona: Persona, build: Any, relates_to: str, count: int = FLOOD) -> list[bytes]:
    """`count` answers built by `build(endpoint_uuid, relates_to)`, each a different endpoint."""
    rng = random.Random(f"{persona.name}/{relates_to}")
    out = []
    for _ in range(count):
        endpoint = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append(build(endpoint, relates_to))
    return out
