"""RTSP identification: OPTIONS and DESCRIBE without credentials; the Server, Public and
WWW-Authenticate headers of the answers name many vendors (Dahua's `Dahua Rtsp Server`,
Hikvision's Digest realm plus Basic realm pair, Hikvision's bare Public list...).

`parse_response` and `rtsp_evidence` are pure and shared with passive mode.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from camscan import __version__
from camscan.discovery.base import HostModule, ScanContext
from camscan.discovery.html import clean_text, header_is_dirty
from camscan.discovery.wire import evidence, url_host
from camscan.errors import ParseError
from camscan.model import Evidence

RTSP_PORTS = frozenset({554, 8554, 10554})
HEAD_MAX = 16 * 1024  # bytes of one response head read, at most
_MAX_HEADERS = 128
_VALUE_MAX = 2048
_STATUS_LINE = re.compile(r"RTSP/(\d{1,2}\.\d{1,2})[ \t]+(\d{3})(?:[ \t]+(.*))?")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_CSEQ = re.compile(r"\s*(\d{1,10})(?!\d)")


@dataclass(frozen=True, slots=True)
class RtspResponse:
    version: str  # "1.0"
    status: int
    reason: str
    headers: list[tuple[str, str]]  # in order, repeats kept
    cseq: int | None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None


def parse_response(data: bytes) -> RtspResponse:
    """The status line and headers of an RTSP response head (a cut-off head is read as far
    as it goes; a body after the blank line is ignored). ParseError if it is not RTSP."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise ParseError("empty RTSP answer")
    head = bytes(data[:HEAD_MAX])
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    if ends:
        head = head[: min(ends)]
    lines = head.decode("latin-1").split("\n")
    m = _STATUS_LINE.fullmatch(lines[0].rstrip("\r"))
    if not m:
        raise ParseError("not an RTSP status line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}"[:_VALUE_MAX])
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not _HEADER_NAME.fullmatch(name):
            continue
        if len(headers) >= _MAX_HEADERS:
            break
        headers.append((name, value.strip()[:_VALUE_MAX]))
    cseq = None
    for name, value in headers:
        if name.lower() == "cseq":
            cm = _CSEQ.match(value)
            cseq = int(cm.group(1)) if cm else None
            break
    return RtspResponse(m.group(1), int(m.group(2)), (m.group(3) or "").strip(), headers, cseq)


_HEADER_PROTOCOLS = {
    "server": "rtsp_server",
    "public": "rtsp_public",
    "www-authenticate": "rtsp_wwwauth",
}


def rtsp_evidence(
    resp: RtspResponse,
    ip: str | None,
    port: int | None,
    *,
    module: str = "rtsp",
    observed_at: float | None = None,
    packet: int | None = None,
    source: str | None = None,
) -> list[Evidence]:
    """rtsp_server, rtsp_public and one rtsp_wwwauth per WWW-Authenticate header."""
    when = time.time() if observed_at is None else observed_at
    if source is None and ip is not None:
        source = f"rtsp://{url_host(ip, port)}/"
    out = []
    for name, raw_value in resp.headers:
        protocol = _HEADER_PROTOCOLS.get(name.lower())
        value = clean_text(raw_value, _VALUE_MAX)
        if protocol and value:
            out.append(
                evidence(
                    module=module,
                    protocol=protocol,
                    value=value,
                    ip=ip,
                    port=port,
                    transport="tcp",
                    source=source,
                    observed_at=when,
                    packet=packet,
                )
            )
    return out


def build_request(method: str, url: str, cseq: int) -> bytes:
    extra = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
    return (
        f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n"
        f"User-Agent: camscan/{__version__}\r\n{extra}\r\n"
    ).encode("ascii")


class RtspModule(HostModule):
    name = "rtsp"
    ports = RTSP_PORTS

    def __init__(self, rtsp_ports: frozenset[int] | set[int] | None = None) -> None:
        if rtsp_ports is not None:
            self.ports = frozenset(rtsp_ports)

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        ports = sorted((RTSP_PORTS if self.ports is None else self.ports) & set(open_ports))
        results = await asyncio.gather(
            *(self._probe_port(ctx, ip, p) for p in ports), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):  # never raise out of probe
                ctx.warn(self.name, f"{ip}: {type(result).__name__}")

    async def _probe_port(self, ctx: ScanContext, ip: str, port: int) -> None:
        url = f"rtsp://{ip}:{port}/"
        emitted: set[tuple[str, str]] = set()
        for cseq, method in enumerate(("OPTIONS", "DESCRIBE"), start=1):
            try:
                data = await self._exchange(ctx, ip, port, build_request(method, url, cseq))
                resp = parse_response(data)
            except TimeoutError:
                ctx.warn(self.name, f"{ip}:{port} {method} timed out")
                ctx.note(ip, f"RTSP port {port}: {method} not answered within "
                         f"{ctx.settings.io_timeout:g}s")  # fmt: skip
                return
            except ParseError as exc:
                ctx.warn(self.name, f"{ip}:{port} {method}: {exc}")
                ctx.note(ip, f"RTSP port {port}: the answer to {method} is not RTSP")
                return
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                ctx.warn(self.name, f"{ip}:{port} {method}: {why}")
                ctx.note(ip, f"RTSP port {port}: {method} failed ({why})")
                return
            if any(header_is_dirty(v) for _, v in resp.headers):
                ctx.note(ip, f"RTSP port {port}: control characters in headers (removed)")
            for ev in rtsp_evidence(resp, ip, port, module=self.name, source=url):
                if (ev.protocol, ev.value) not in emitted:
                    emitted.add((ev.protocol, ev.value))
                    ctx.emit(ev)

    async def _exchange(self, ctx: ScanContext, ip: str, port: int, request: bytes) -> bytes:
        """One request on its own connection; the response head, or TimeoutError/OSError."""
        settings = ctx.settings
        async with ctx.limiter.slot(), asyncio.timeout(settings.io_timeout):
            async with asyncio.timeout(settings.connect_timeout):
                reader, writer = await asyncio.open_connection(ip, port, limit=HEAD_MAX)
            try:
                writer.write(request)
                await writer.drain()
                return await _read_head(reader)
            finally:
                writer.transport.abort()


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    buf = bytearray()
    while len(buf) < HEAD_MAX:
        chunk = await reader.read(HEAD_MAX - len(buf))
        if not chunk:
            break
        buf += chunk
        if b"\r\n\r\n" in buf or b"\n\n" in buf:
            break
    if not buf:
        raise ConnectionResetError(0, "closed without answering")
    return bytes(buf)
