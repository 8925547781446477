"""banner module: greetings read from servers that speak first; nothing is sent."""

import asyncio
from ipaddress import IPv4Network

from hypothesis import given
from hypothesis import strategies as st

from camscan.discovery.banner import BannerModule, banner_evidence, banner_text, strip_telnet
from camscan.discovery.base import ScanContext, ScanSettings


def loopback_ctx() -> ScanContext:
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=ScanSettings(io_timeout=1.0),
    )


def test_telnet_negotiation_is_stripped():
    data = bytes([255, 253, 1, 255, 253, 31, 255, 251, 1, 255, 251, 3]) + b"(none) login: "
    assert strip_telnet(data) == b"(none) login: "
    assert banner_text(23, data) == "(none) login:"


def test_evidence_protocol_by_port():
    [ev] = banner_evidence(22, b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n", "198.18.0.9")
    assert (ev.protocol, ev.value, ev.port) == (
        "ssh_banner",
        "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13",
        22,
    )
    assert banner_evidence(80, b"x", "198.18.0.9") == []
    assert banner_evidence(21, b"\x00\x01", "198.18.0.9") == []


@given(st.integers(0, 65535), st.binary(max_size=2048))
def test_any_bytes_give_evidence_or_nothing(port, data):
    for ev in banner_evidence(port, data, "198.18.0.9"):
        assert ev.value.isprintable() and len(ev.value) <= 1024


async def test_reads_greeting_and_sends_nothing():
    received: list[bytes] = []
    handled = asyncio.Event()

    async def server(reader, writer):
        writer.write(b"220 AXIS M3045-V Network Camera 10.12.0 (2022) ready.\r\n")
        await writer.drain()
        try:
            received.append(await asyncio.wait_for(reader.read(100), 1))
        except TimeoutError:
            received.append(b"")
        writer.close()
        handled.set()

    srv = await asyncio.start_server(server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    ctx = loopback_ctx()
    module = BannerModule()
    module.ports = frozenset({port})
    import camscan.discovery.banner as banner

    banner.BANNER_PORTS[port] = "ftp_banner"
    try:
        await module.probe(ctx, "127.0.0.1", {port})
        await asyncio.wait_for(handled.wait(), 5)
    finally:
        del banner.BANNER_PORTS[port]
        srv.close()
        await srv.wait_closed()
    assert [(e.protocol, e.value) for e in ctx.evidence] == [
        ("ftp_banner", "220 AXIS M3045-V Network Camera 10.12.0 (2022) ready.")
    ]
    assert received == [b""]


HIK_SDK_GREETING = bytes.fromhex("000000100000001e0000001e00000000")


def test_binary_greeting_port_gives_hex():
    [ev] = banner_evidence(8000, HIK_SDK_GREETING + b"more", "198.18.0.9")
    assert (ev.protocol, ev.value, ev.port) == (
        "tcp_greeting",
        "8000:000000100000001e0000001e00000000",
        8000,
    )
    assert banner_evidence(8000, b"", "198.18.0.9") == []


async def test_reads_the_hikvision_sdk_greeting_and_sends_nothing(monkeypatch):
    """The SDK port speaks first (nmap's NULL probe): camscan listens and says nothing."""
    import camscan.discovery.banner as banner
    from camscan.fingerprint.engine import Engine

    received: list[bytes] = []
    handled = asyncio.Event()

    async def server(reader, writer):
        writer.write(HIK_SDK_GREETING)
        await writer.drain()
        received.append(await reader.read(100))  # b"" once the scanner closes
        writer.close()
        handled.set()

    srv = await asyncio.start_server(server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    monkeypatch.setattr(banner, "GREETING_PORTS", frozenset({port}))
    ctx = loopback_ctx()
    module = BannerModule()
    module.ports = frozenset({port})
    try:
        await module.probe(ctx, "127.0.0.1", {port})
        await asyncio.wait_for(handled.wait(), 5)
    finally:
        srv.close()
        await srv.wait_closed()
    [ev] = ctx.evidence
    assert ev.protocol == "tcp_greeting" and received == [b""]
    assert ctx.notes == {}
    claims = Engine.load().match_value(ev.protocol, ev.value)
    assert {c.manufacturer for c in claims} == {"Hikvision"}
