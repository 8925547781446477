"""Issue 13, item 5: a `--listen` window longer than the host budget no longer turns ONVIF off.

The onvif module used to wait for the end of every listen window before it read WS-Discovery's
XAddrs, inside the host's budget: with --listen 2 and --host-budget 1 the budget ran out first
and no ONVIF device was ever asked anything. It now starts as soon as its host's XAddr is
known. A real scan engine, a WS-Discovery device and its ONVIF service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from ipaddress import IPv4Network

from test_discovery_onvif import OnvifDevice
from test_trust_urls import probe_match, relates_to

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.onvif import OnvifModule
from camscan.discovery.wsd import WsdModule
from camscan.scan import ScanEngine

IP = "127.0.0.1"


class Camera(asyncio.DatagramProtocol):
    def __init__(self, xaddr: str) -> None:
        self.xaddr = xaddr
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(probe_match([self.xaddr], relates_to(data)), addr)


@contextlib.asynccontextmanager
async def wsd_camera(xaddr: str) -> AsyncIterator[tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Camera(xaddr), local_addr=(IP, 0))
    try:
        yield transport.get_extra_info("sockname")
    finally:
        transport.close()


async def test_onvif_runs_when_the_listen_window_outlasts_the_host_budget() -> None:
    async with (
        OnvifDevice() as dev,
        wsd_camera(f"http://{IP}:{dev.port}/onvif/device_service") as addr,
    ):
        settings = ScanSettings(listen_window=2.0, host_budget=1.0, io_timeout=1.0)
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.1/32")], interface=None, local_ip=IP, settings=settings
        )

        async def scan_ports(_ctx: ScanContext, _ip: str, **_kw: object) -> set[int]:
            return {dev.port}

        engine = ScanEngine(
            ctx,
            [WsdModule(destinations=[addr])],
            [OnvifModule(web_ports=(dev.port,))],
            sweep=[],
            scan_ports=scan_ports,
        )
        ctx.feed_hosts_to(engine.host_seen)
        await engine.run()
    assert [e.value for e in ctx.evidence if e.protocol == "onvif_datetime"] == [
        "UTC=2020-01-02T03:04:05Z"
    ]
    assert not [w for w in ctx.warnings if "budget" in w]
