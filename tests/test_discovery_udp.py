"""The shared UDP helper, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
from ipaddress import IPv4Network

import pytest

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.udp import (
    RCVBUF,
    Listener,
    broadcast_addresses,
    open_socket,
    send_and_collect,
)


def ctx() -> ScanContext:
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=ScanSettings(),
    )


class Echo(asyncio.DatagramProtocol):
    """Sends `answers` back for each request (the request itself when answers is None)."""

    def __init__(self, answers: list[bytes] | None = None) -> None:
        self.answers = answers
        self.requests: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        for answer in self.answers if self.answers is not None else [data]:
            self.transport.sendto(answer, addr)  # type: ignore[attr-defined]


async def responder(proto: Echo) -> tuple[asyncio.DatagramTransport, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")


def test_socket_options() -> None:
    sock = open_socket(ctx(), broadcast=True)
    try:
        if os.geteuid() == 0:  # others get what net.core.rmem_max allows
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= RCVBUF
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 1
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
        iface = sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        assert socket.inet_ntoa(iface) == "127.0.0.1"
        assert not sock.getblocking()
    finally:
        sock.close()


async def test_answers_are_collected_deduplicated_and_own_inquiry_dropped() -> None:
    echo = Echo([b"answer-1", b"answer-1", b"answer-2", b"ping"])
    transport, dest = await responder(echo)
    seen: list[bytes] = []
    try:
        got = await send_and_collect(
            ctx(), [(b"ping", dest)], 0.3, 100, on_datagram=lambda d: seen.append(d.data)
        )
    finally:
        transport.close()
    assert [d.data for d in got] == [b"answer-1", b"answer-2"] == seen
    assert all(d.addr == dest and d.at > 0 for d in got)


async def test_cap_on_kept_answers_warns() -> None:
    echo = Echo([b"a%d" % i for i in range(50)])
    transport, dest = await responder(echo)
    c = ctx()
    try:
        got = await send_and_collect(c, [(b"q", dest)], 0.3, 10, module="t")
    finally:
        transport.close()
    assert len(got) == 10
    assert c.warnings == ["t: kept the first 10 answers, ignored the rest"]


@pytest.mark.timeout(10)
async def test_stop_after_ends_the_window_early() -> None:
    echo = Echo([b"one"])
    transport, dest = await responder(echo)
    try:
        got = await send_and_collect(ctx(), [(b"q", dest)], 60.0, 10, stop_after=1)
    finally:
        transport.close()
    assert [d.data for d in got] == [b"one"]


async def test_send_errors_and_busy_ports_become_warnings() -> None:
    c = ctx()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("0.0.0.0", 0))  # no SO_REUSEADDR: nobody may share it
        port = busy.getsockname()[1]
        got = await send_and_collect(
            c,
            [(b"q", ("127.0.0.1", 0))],  # port 0: the kernel refuses to send
            0.1,
            10,
            module="t",
            bind_port=port,
            listeners=[Listener(port)],
        )
    assert got == []
    assert any(w.startswith(f"t: cannot bind UDP port {port}") for w in c.warnings)
    assert any(w.startswith(f"t: cannot listen on 0.0.0.0:{port}") for w in c.warnings)
    assert any(w.startswith("t: cannot send to 127.0.0.1:0") for w in c.warnings)


async def test_spaced_sends_all_arrive_in_order() -> None:
    echo = Echo([])
    transport, dest = await responder(echo)
    try:
        await send_and_collect(
            ctx(), [(b"1", dest), (b"2", dest), (b"3", dest)], 0.1, 10, spacing=0.01
        )
    finally:
        transport.close()
    assert echo.requests == [b"1", b"2", b"3"]


def test_broadcast_addresses_only_for_the_scan_subnet() -> None:
    c = ScanContext(
        targets=[IPv4Network("10.0.0.0/8")],
        interface=None,
        local_ip="10.1.2.3",
        attached=[
            IPv4Network("10.1.2.0/23"),
            IPv4Network("10.9.0.0/24"),
            IPv4Network("10.1.2.3/32"),
        ],
    )
    assert broadcast_addresses(c) == ["10.1.3.255"]
    c.local_ip = None
    assert broadcast_addresses(c) == []
