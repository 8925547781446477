"""Greeting banners of services that speak first (FTP 21, SSH 22, telnet 23, and Hikvision's
binary SDK port 8000): connect, read what the server volunteers, close. Nothing is sent — no
user name, no password, not a byte of the SDK protocol."""

from __future__ import annotations

import asyncio
import contextlib
import time

from camscan.discovery.base import HostModule, ScanContext
from camscan.model import Evidence

BANNER_PORTS = {21: "ftp_banner", 22: "ssh_banner", 23: "telnet_banner"}
# Binary ports whose service greets first: kept as hex, the first GREETING_SIZE bytes.
GREETING_PORTS = frozenset({8000})
GREETING_SIZE = 16
# A greeting is sent on accept; a port that stays quiet this long (an HTTP server on 8000,
# say) has none, and waiting longer would hold the host's slot in a big scan for nothing.
GREETING_WAIT = 0.5
MAX_BANNER = 1024
_IAC = 255


def strip_telnet(data: bytes) -> bytes:
    """Drop telnet IAC negotiation sequences (IAC cmd opt, IAC SB ... IAC SE)."""
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b != _IAC:
            out.append(b)
            i += 1
            continue
        cmd = data[i + 1] if i + 1 < len(data) else None
        if cmd == _IAC:
            out.append(_IAC)
            i += 2
        elif cmd == 250:  # SB: skip to IAC SE
            end = data.find(bytes([_IAC, 240]), i + 2)
            i = len(data) if end < 0 else end + 2
        elif cmd is not None and 251 <= cmd <= 254:
            i += 3
        else:
            i += 2
    return bytes(out)


def banner_text(port: int, data: bytes) -> str | None:
    """The printable banner: telnet negotiation removed, controls dropped, space collapsed.
    None for no text, and for binary junk (see is_binary)."""
    text = decoded(port, data)
    if is_binary(text):
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text or None


def decoded(port: int, data: bytes) -> str:
    """The greeting as text (telnet negotiation removed on port 23), nothing else cleaned."""
    if port == 23:
        data = strip_telnet(data)
    return data[:MAX_BANNER].decode("utf-8", errors="replace")


def is_binary(text: str) -> bool:
    """True when over a quarter of the characters are undecodable or control characters: not
    a greeting, whatever the port (a binary protocol, or garbage)."""
    bad = sum(1 for ch in text if ch == "\ufffd" or not (ch.isprintable() or ch.isspace()))
    return bad * 4 > len(text)


def banner_evidence(
    port: int,
    data: bytes,
    ip: str,
    *,
    module: str = "banner",
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """ftp/ssh/telnet_banner text, or tcp_greeting 'PORT:hex' on a binary greeting port."""
    if port in GREETING_PORTS:
        protocol, text = "tcp_greeting", f"{port}:{data[:GREETING_SIZE].hex()}" if data else None
    else:
        protocol = BANNER_PORTS.get(port)
        text = banner_text(port, data) if protocol else None
    if protocol is None or text is None:
        return []
    return [
        Evidence(
            module=module,
            protocol=protocol,
            value=text,
            ip=ip,
            port=port,
            transport="tcp",
            observed_at=time.time() if observed_at is None else observed_at,
            packet=packet,
        )
    ]


class BannerModule(HostModule):
    name = "banner"
    ports = frozenset(BANNER_PORTS) | GREETING_PORTS

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        await asyncio.gather(*(self._one(ctx, ip, p) for p in sorted(self.ports & open_ports)))

    async def _one(self, ctx: ScanContext, ip: str, port: int) -> None:
        data = b""
        async with ctx.limiter.slot():
            writer = None
            try:
                binary = port in GREETING_PORTS
                wait = min(GREETING_WAIT if binary else 2.0, ctx.settings.io_timeout)
                async with asyncio.timeout(wait):
                    reader, writer = await asyncio.open_connection(ip, port)
                    while len(data) < (GREETING_SIZE if binary else MAX_BANNER):
                        chunk = await reader.read(MAX_BANNER - len(data))
                        if not chunk:
                            break
                        data += chunk
                        if binary:
                            continue
                        if b"\n" in chunk or data.rstrip().endswith((b":", b">", b"$", b"#")):
                            break
            except TimeoutError:
                pass  # keep what arrived
            except OSError as exc:
                ctx.warn(self.name, f"{ip}:{port} {exc.strerror or type(exc).__name__}")
            finally:
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()
        if data and port not in GREETING_PORTS and is_binary(decoded(port, data)):
            ctx.note(ip, f"port {port}: the greeting is binary, not text")
        for ev in banner_evidence(port, data, ip, module=self.name):
            ctx.emit(ev)
