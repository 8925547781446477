"""mDNS / DNS-SD of the personas that have an `mdns` block: one zeroconf instance per persona
bound to its address (Zeroconf(interfaces=[ip])), services registered concurrently (a
blocking registration takes ~0.45 s each). Registering announces the services (zeroconf
multicasts the records unsolicited) and closing says goodbye (TTL 0); `announce_mdns` repeats
the announcement as a device does when its link comes back. Lab only: never started in the
127.0.0.x mode."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from camscan.lab.personas import Persona


def service_infos(persona: Persona) -> list[ServiceInfo]:
    infos = []
    for entry in persona.block("mdns") or []:
        type_ = entry["type"] if entry["type"].endswith(".") else entry["type"] + "."
        host = entry.get("host") or persona.name
        infos.append(
            ServiceInfo(
                type_,
                f"{entry['name']}.{type_}",
                addresses=[socket.inet_aton(persona.ip)],
                port=int(entry["port"]),
                properties={str(k): str(v) for k, v in (entry.get("txt") or {}).items()},
                server=f"{host}.local.",
            )
        )
    return infos


@dataclass(frozen=True)
class Responder:
    zeroconf: AsyncZeroconf
    infos: list[ServiceInfo]


async def start_mdns(personas: Sequence[Persona]) -> list[Responder]:
    responders: list[Responder] = []
    pending = []
    try:
        for persona in personas:
            infos = service_infos(persona)
            if not infos:
                continue
            azc = AsyncZeroconf(interfaces=[persona.ip], ip_version=IPVersion.V4Only)
            responders.append(Responder(azc, infos))
            pending += [azc.async_register_service(info) for info in infos]
        tasks = await asyncio.gather(*pending)
        await asyncio.gather(*tasks)
    except BaseException:
        await stop_mdns(responders)
        raise
    return responders


async def announce_mdns(responders: Sequence[Responder]) -> int:
    """Announce every service again; returns when the announcements are sent."""
    pending = [r.zeroconf.async_update_service(info) for r in responders for info in r.infos]
    tasks = await asyncio.gather(*pending)
    await asyncio.gather(*tasks)
    return len(pending)


async def stop_mdns(responders: Sequence[Responder]) -> None:
    await asyncio.gather(*(r.zeroconf.async_close() for r in responders), return_exceptions=True)
