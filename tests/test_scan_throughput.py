"""What keeps big scans fast and complete: the cap on hosts running their modules at once,
the second port round for live hosts whose first SYNs all went unanswered, and ARP frames
built without scapy. Real sockets on 127.0.0.1; no timing asserts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from ipaddress import IPv4Network

import pytest

from camscan.discovery import arp
from camscan.discovery.base import HostModule, ScanContext, ScanSettings
from camscan.discovery.ports import scan_ports
from camscan.scan import ScanEngine, hosts_in_flight


def make_ctx(**settings: object) -> ScanContext:
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=ScanSettings(**settings),  # type: ignore[arg-type]
    )


# -- the second port round ------------------------------------------------------------------


@pytest.fixture
def full_listener() -> Iterator[tuple[socket.socket, socket.socket, int]]:
    """A listening port whose accept queue is full: the kernel drops further SYNs, so a
    connect gets no answer at all (a silent port) until the queued connection is taken."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        yield server, filler, port
    finally:
        filler.close()
        server.close()


async def test_a_live_host_whose_ports_were_all_silent_is_asked_again(full_listener):
    server, _, port = full_listener
    asked: list[bool] = []

    def live() -> bool:
        asked.append(True)
        conn, _ = server.accept()  # room in the queue again: the second round gets through
        conn.close()
        return True

    ctx = make_ctx(ports=(port,), connect_timeout=0.3)
    assert await scan_ports(ctx, "127.0.0.1", retry_silent=live) == {port}
    assert asked == [True]
    assert [e.value for e in ctx.evidence] == [f"{port}/tcp"]


async def test_an_address_nobody_saw_is_not_asked_again(full_listener):
    _, _, port = full_listener
    ctx = make_ctx(ports=(port,), connect_timeout=0.3)
    assert await scan_ports(ctx, "127.0.0.1", retry_silent=lambda: False) == set()
    assert await scan_ports(ctx, "127.0.0.1") == set()
    assert ctx.evidence == []


async def test_a_host_that_refused_a_port_is_not_asked_again(full_listener):
    _, _, silent = full_listener
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = s.getsockname()[1]
    ctx = make_ctx(ports=(silent, refused), connect_timeout=0.3)
    retry = lambda: pytest.fail("a reachable host was swept twice")  # noqa: E731
    assert await scan_ports(ctx, "127.0.0.1", retry_silent=retry) == set()


# -- the engine -----------------------------------------------------------------------------


class Gate(HostModule):
    """Counts probes running at once; each waits until the test opens the gate."""

    name = "gate"
    ports = None

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.running = 0
        self.most = 0
        self.probed: list[str] = []
        self.full = asyncio.Event()
        self.open = asyncio.Event()

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        if self.running == self.cap:
            self.full.set()
        await self.open.wait()
        self.running -= 1
        self.probed.append(ip)


async def test_at_most_hosts_in_flight_hosts_run_their_modules_at_once():
    ctx = make_ctx(concurrency=32)
    cap = hosts_in_flight(32)
    assert cap == 8
    gate = Gate(cap)

    async def ports(ctx: ScanContext, ip: str, **_: object) -> set[int]:
        return {80}

    hosts = [f"127.0.0.{i}" for i in range(1, 21)]
    engine = ScanEngine(ctx, [], [gate], sweep=hosts, scan_ports=ports)
    run = asyncio.create_task(engine.run())
    await asyncio.wait_for(gate.full.wait(), 30)
    for _ in range(50):  # let every other pipeline reach its turn, if it could
        await asyncio.sleep(0)
    assert gate.running == cap
    gate.open.set()
    await asyncio.wait_for(run, 30)
    assert gate.most == cap
    assert sorted(gate.probed) == sorted(hosts)


async def test_only_hosts_a_module_saw_are_known_live():
    seen: dict[str, bool] = {}
    both_swept = asyncio.Event()

    async def ports(ctx: ScanContext, ip: str, *, retry_silent) -> set[int]:
        if ip == "127.0.0.1":
            await both_swept.wait()  # decided after the other host was seen by a module
        seen[ip] = retry_silent()
        if len(seen) == 1:
            both_swept.set()
        return set()

    ctx = make_ctx()
    engine = ScanEngine(ctx, [], [], sweep=["127.0.0.1"], scan_ports=ports)
    ctx.feed_hosts_to(engine.host_seen)
    run = asyncio.create_task(engine.run())
    await asyncio.sleep(0)
    engine.host_seen("127.0.0.2")  # e.g. an ARP reply
    await asyncio.wait_for(run, 30)
    assert seen == {"127.0.0.2": True, "127.0.0.1": False}


# -- ARP frames -----------------------------------------------------------------------------


def test_arp_request_is_the_frame_scapy_builds():
    from scapy.layers.l2 import ARP, Ether

    mac = "02:00:12:34:56:01"
    want = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=mac, psrc="198.18.0.1", hwdst="00:00:00:00:00:00", pdst="198.18.7.254"
    )
    got = arp.build_request(bytes.fromhex(mac.replace(":", "")), "198.18.0.1", "198.18.7.254")
    assert got == bytes(want)


async def test_a_live_host_whose_arp_failed_is_asked_again(monkeypatch, full_listener):
    """EHOSTUNREACH on a local segment: the kernel's ARP went unanswered (a busy device, a
    full neighbour table). For a host that answered before, the sweep is tried again."""
    import errno

    server, filler, port = full_listener
    loop = asyncio.get_running_loop()
    real = loop.sock_connect
    rounds: list[str] = []

    async def unreachable(sock, address):
        raise OSError(errno.EHOSTUNREACH, "No route to host")

    def live() -> bool:
        rounds.append("retry")
        conn, _ = server.accept()
        conn.close()
        monkeypatch.setattr(loop, "sock_connect", real)
        return True

    monkeypatch.setattr(loop, "sock_connect", unreachable)
    ctx = make_ctx(ports=(port,), connect_timeout=0.3)
    assert await scan_ports(ctx, "127.0.0.1", retry_silent=live) == {port}
    assert rounds == ["retry"] and ctx.warnings == []
