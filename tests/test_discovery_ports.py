"""ports module: TCP connect sweep against listening and closed ports on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Network

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.ports import PortsModule, scan_ports


def make_ctx(**overrides: object) -> ScanContext:
    s = ScanSettings(connect_timeout=1.0, io_timeout=2.0)
    for k, v in overrides.items():
        setattr(s, k, v)
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")], interface=None, local_ip="127.0.0.1", settings=s
    )


def closed_port() -> int:
    """A port nothing listens on: bound once by us, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_open_and_closed_ports():
    accepted: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(await reader.read(100))  # b"": the sweep sends nothing and closes
        writer.close()

    servers = [await asyncio.start_server(handler, "127.0.0.1", 0) for _ in range(2)]
    open_ports = {s.sockets[0].getsockname()[1] for s in servers}
    shut = closed_port()
    ctx = make_ctx(ports=(*sorted(open_ports), shut))
    try:
        found = await scan_ports(ctx, "127.0.0.1")
        for _ in range(100):  # let the handlers see the close
            if len(accepted) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        for s in servers:
            s.close()
    assert found == open_ports
    assert sorted(e.value for e in ctx.evidence) == sorted(f"{p}/tcp" for p in open_ports)
    ev = ctx.evidence[0]
    assert (ev.module, ev.protocol, ev.ip, ev.transport) == (
        "ports",
        "open_port",
        "127.0.0.1",
        "tcp",
    )
    assert ev.port in open_ports
    assert accepted == [b"", b""]
    assert ctx.warnings == []


async def test_explicit_port_list_and_duplicates():
    ctx = make_ctx()
    port = closed_port()
    assert await scan_ports(ctx, "127.0.0.1", [port, port]) == set()
    assert ctx.evidence == []


async def test_many_closed_ports_do_not_stall():
    ports = tuple(closed_port() for _ in range(50))
    ctx = make_ctx(ports=ports, connect_timeout=30.0)  # refused is immediate: no timeout needed
    assert await asyncio.wait_for(scan_ports(ctx, "127.0.0.1"), 10) == set()


async def test_module_probe_emits_through_context():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    seen: list[str] = []
    ctx = make_ctx(ports=(port,))
    ctx._on_host = seen.append
    try:
        await PortsModule().probe(ctx, "127.0.0.1", set())
    finally:
        server.close()
    assert [e.value for e in ctx.evidence] == [f"{port}/tcp"]
    assert seen == ["127.0.0.1"]
    assert PortsModule.name == "ports" and PortsModule.ports is None
