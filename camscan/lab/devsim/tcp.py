"""Plain TCP ports of a persona: accept, send the banner line (SSH) or the binary greeting
(banner_hex: Hikvision's SDK port) if the persona has one,
read what the client sends (capped, 5 s) and close. Ports marked `audit_data` are
proprietary SDK/login ports (Hikvision 8000, Dahua 37777, Reolink 9000): a read-only scanner
may connect there but must not talk, so received bytes are audited as sdk_data."""

from __future__ import annotations

import asyncio
from typing import Any

from camscan.lab.devsim import audit, hostile
from camscan.lab.devsim.context import SimContext
from camscan.lab.personas import Persona

READ_TIMEOUT = 5.0
MAX_READ = 4096


class TcpService:
    def __init__(self, persona: Persona, ctx: SimContext) -> None:
        self.persona = persona
        self.ctx = ctx
        self.conf: dict[str, dict[str, Any]] = persona.block("tcp")

    async def start(self) -> list[asyncio.AbstractServer]:
        servers = []
        for port_text, spec in self.conf.items():
            port = int(port_text)

            async def handler(
                r: asyncio.StreamReader, w: asyncio.StreamWriter, port: int = port, spec=spec
            ) -> None:
                if not await hostile.take_connection(self.persona, r, w, port=port):
                    await self._handle(r, w, port, spec or {})

            server = await asyncio.start_server(
                handler, self.persona.ip, port, reuse_address=True, backlog=64
            )
            servers.append(server)
        return servers

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, spec: dict
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            banner = spec.get("banner")
            greeting = banner.encode() + b"\r\n" if banner else b""
            greeting += bytes.fromhex(spec.get("banner_hex") or "")
            if greeting:
                writer.write(greeting)
                await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
            data = await asyncio.wait_for(reader.read(MAX_READ), READ_TIMEOUT)
            if data and spec.get("audit_data"):
                self.ctx.audit.record(
                    self.persona,
                    "tcp",
                    port,
                    peer,
                    audit.SDK_DATA,
                    f"{len(data)} bytes: {data[:32].hex()}",
                )
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
