"""The liveness pass and the budget logic of big scans: adaptive timeouts, verdicts (a refusal
is alive, an unreachable dead, silence waited out by stages), ICMP parsing, the host budget
that starts with the host's own work, and the honest end (Coverage, partial, exit 3). Real
sockets on 127.0.0.1 only; no timing asserts."""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Iterator
from ipaddress import IPv4Network
from typing import Any

import pytest

from camscan.discovery.base import HostModule, ScanContext, ScanSettings
from camscan.discovery.liveness import (
    ALIVE,
    DEAD,
    AdaptiveTimeout,
    LivenessPass,
    LivenessStats,
    icmp_echo,
    parse_icmp,
)
from camscan.scan import Coverage, ScanEngine, hosts_in_flight


def make_ctx(**settings: Any) -> ScanContext:
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=ScanSettings(**settings),
    )


# -- the adaptive timeout -------------------------------------------------------------------


def test_timeout_is_the_initial_one_until_something_answers():
    t = AdaptiveTimeout(initial=1.0, floor=0.25, ceiling=3.0)
    assert t.value == 1.0
    assert t.samples == 0


def test_a_fast_network_is_waited_for_the_floor_only():
    t = AdaptiveTimeout(initial=1.0, floor=0.25, ceiling=3.0)
    for _ in range(20):
        t.observe(0.001)
    assert t.value == 0.25


def test_a_slow_network_is_waited_for_longer_and_never_beyond_the_ceiling():
    t = AdaptiveTimeout(initial=1.0, floor=0.25, ceiling=3.0)
    for _ in range(20):
        t.observe(0.6)
    assert 0.6 <= t.value < 1.0
    t.observe(5.0)  # one answer much slower than the rest: the variance widens the wait
    assert t.value > 1.0
    for _ in range(50):
        t.observe(30.0)
    assert t.value == 3.0


def test_answers_that_slow_down_lengthen_the_timeout_again():
    t = AdaptiveTimeout(initial=1.0, floor=0.05, ceiling=3.0)
    for _ in range(20):
        t.observe(0.01)
    fast = t.value
    for _ in range(5):
        t.observe(0.2)
    assert t.value > fast


def test_floor_never_exceeds_the_initial_timeout():
    t = AdaptiveTimeout(initial=0.1, floor=0.25)
    t.observe(0.0)
    assert t.value <= 0.1


# -- ICMP -----------------------------------------------------------------------------------


def _ip_header(src: str, dst: str, proto: int = 1) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, proto, 0, socket.inet_aton(src),
        socket.inet_aton(dst),
    )  # fmt: skip


def test_echo_request_checksums_to_zero():
    packet = icmp_echo(0x1234, 7)
    words = struct.unpack(f"!{len(packet) // 2}H", packet)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF
    assert packet[0] == 8


def test_echo_reply_with_our_id_is_alive_and_others_are_ignored():
    reply = _ip_header("198.19.4.7", "198.18.0.1") + struct.pack("!BBHHH", 0, 0, 0, 42, 1)
    assert parse_icmp(reply, 42) == ("198.19.4.7", ALIVE)
    assert parse_icmp(reply, 43) is None


def test_unreachable_from_a_router_is_dead_from_the_host_itself_alive():
    inner = _ip_header("198.18.0.1", "198.19.9.9", proto=6) + b"\x00" * 8
    for code in (0, 1):  # net, host unreachable
        msg = struct.pack("!BBHI", 3, code, 0, 0) + inner
        assert parse_icmp(_ip_header("198.18.0.254", "198.18.0.1") + msg, 1) == (
            "198.19.9.9",
            DEAD,
        )
    port_unreach = struct.pack("!BBHI", 3, 3, 0, 0) + inner
    assert parse_icmp(_ip_header("198.19.9.9", "198.18.0.1") + port_unreach, 1) == (
        "198.19.9.9",
        ALIVE,
    )


def test_truncated_icmp_is_ignored():
    assert parse_icmp(b"\x45\x00", 1) is None
    assert parse_icmp(_ip_header("1.2.3.4", "5.6.7.8") + b"\x03\x01", 1) is None


# -- the pass on loopback -------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening port whose accept queue is full: further SYNs get no answer at all."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    extra = socket.socket()
    extra.setblocking(False)
    extra.connect_ex(("127.0.0.1", port))
    try:
        yield port
    finally:
        for s in (extra, filler, server):
            s.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def test_a_refused_connection_counts_as_alive():
    ctx = make_ctx()
    alive: list[str] = []
    ips = [f"127.0.0.{i}" for i in range(1, 41)]
    lp = LivenessPass(ctx, ips, len(ips), on_alive=alive.append, ports=(_closed_port(),))
    stats = await lp.run()
    assert sorted(alive) == sorted(ips)
    assert (stats.alive, stats.resolved, stats.uncovered) == (40, 40, 0)


async def test_silence_goes_to_the_next_port_then_ends_silent(silent_port):
    ctx = make_ctx(connect_timeout=0.2)
    alive: list[str] = []
    lp = LivenessPass(
        ctx, ["127.0.0.1"], 1, on_alive=alive.append, ports=(silent_port, silent_port)
    )
    stats = await lp.run()
    assert alive == []
    assert (stats.silent, stats.resolved, stats.packets) == (1, 1, 2)  # one probe per stage


async def test_a_silent_first_port_and_a_refused_second_is_alive(silent_port):
    ctx = make_ctx(connect_timeout=0.2)
    alive: list[str] = []
    lp = LivenessPass(
        ctx, ["127.0.0.1"], 1, on_alive=alive.append, ports=(silent_port, _closed_port())
    )
    stats = await lp.run()
    assert alive == ["127.0.0.1"]
    assert stats.alive == 1 and stats.silent == 0


async def test_verdicts_of_errors_before_anything_was_sent():
    ctx = make_ctx()
    lp = LivenessPass(ctx, [], 0, on_alive=lambda ip: None, ports=(80,))
    lp._loop = asyncio.get_running_loop()
    for ip in ("a", "b", "c"):
        lp._stage[ip] = 0
    lp._immediate("a", 0, 0, errno.ENETUNREACH)  # no route of the scanner's own
    lp._immediate("b", 0, 0, errno.EHOSTUNREACH)  # the kernel's neighbour entry failed
    lp._immediate("c", 0, 0, errno.ECONNREFUSED)
    s = lp.stats
    assert (s.uncovered, s.dead, s.alive) == (1, 1, 1)
    assert any("not probed" in w for w in ctx.warnings)


async def test_a_cut_short_pass_counts_the_rest_as_uncovered(silent_port):
    ctx = make_ctx(connect_timeout=3.0)
    lp = LivenessPass(ctx, ["127.0.0.1"], 1, on_alive=lambda ip: None, ports=(silent_port,))
    task = asyncio.create_task(lp.run())
    while lp.stats.packets < 1:  # the one probe is out, its answer never comes
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (lp.stats.uncovered, lp.stats.resolved) == (1, 1)


# -- budgets --------------------------------------------------------------------------------


class Gate(HostModule):
    """Holds every host that reaches its modules until `open` is set."""

    name = "gate"
    ports = None

    def __init__(self) -> None:
        self.running = 0
        self.open = asyncio.Event()
        self.done: list[str] = []

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        self.running += 1
        await self.open.wait()
        self.done.append(ip)


class FakePass:
    """A liveness pass over many dead addresses and a few live ones."""

    def __init__(self, alive: list[str], dead: int, uncovered: int = 0) -> None:
        self.alive, self.dead, self.uncovered_n = alive, dead, uncovered
        self.stats = LivenessStats()

    def __call__(self, ctx, addresses, total, *, on_alive, room):  # noqa: ANN001
        self.on_alive, self.room = on_alive, room
        self.stats.addresses = total
        return self

    def eta(self) -> float | None:
        return None

    async def run(self) -> LivenessStats:
        s = self.stats
        for ip in self.alive:
            await self.room()
            self.on_alive(ip)
            s.alive += 1
        s.dead = self.dead
        s.uncovered = self.uncovered_n
        s.resolved = s.alive + s.dead + s.uncovered
        return s


async def test_a_live_hosts_budget_does_not_run_while_it_waits_for_its_turn():
    """Every turn is taken (by the test) while the live hosts queue behind tens of thousands
    of dead addresses for longer than a whole budget: once their turn comes, each still gets
    all of its budget (the budget measures work, not the queue)."""
    budget = 0.2
    ctx = make_ctx(concurrency=32, host_budget=budget)
    cap = hosts_in_flight(32)
    gate = Gate()
    gate.open.set()
    live = [f"127.0.0.{i}" for i in range(1, 2 * cap + 1)]

    async def ports(ctx: ScanContext, ip: str, **_: object) -> set[int]:
        return {80}

    fake = FakePass(live, dead=60_000)
    sweep = [f"127.1.{i // 250}.{i % 250}" for i in range(60_000)] + live
    engine = ScanEngine(ctx, [], [gate], sweep=sweep, scan_ports=ports, liveness=fake)
    for _ in range(cap):
        await engine._hosts_in_flight.acquire()
    run = asyncio.create_task(engine.run())
    while engine._waiting < len(live):
        await asyncio.sleep(0)
    await asyncio.sleep(budget * 2)  # not synchronisation: the queue outlasts a whole budget
    for _ in range(cap):
        engine._hosts_in_flight.release()
    await asyncio.wait_for(run, 30)
    assert sorted(gate.done) == sorted(live)
    assert engine.coverage.budget_exhausted == 0
    assert not [w for w in ctx.warnings if "budget" in w]


async def test_a_host_out_of_budget_is_counted_and_makes_the_scan_incomplete():
    ctx = make_ctx(host_budget=0.05)
    gate = Gate()  # never opened: the module outlasts the budget

    async def ports(ctx: ScanContext, ip: str, **_: object) -> set[int]:
        return {80}

    engine = ScanEngine(ctx, [], [gate], sweep=["127.0.0.1"], scan_ports=ports)
    await asyncio.wait_for(engine.run(), 30)
    assert engine.coverage.budget_exhausted == 1 and engine.coverage.incomplete
    assert "1 live host(s) ran out of their host budget" in engine.coverage.summary()


async def test_dead_addresses_do_not_hold_back_live_ones_and_coverage_is_counted():
    ctx = make_ctx()
    gate = Gate()
    gate.open.set()

    async def ports(ctx: ScanContext, ip: str, **_: object) -> set[int]:
        return {80}

    fake = FakePass(["127.0.0.9"], dead=65_000)
    sweep = ["127.0.0.9"] + [f"127.1.{i // 250}.{i % 250}" for i in range(65_000)]
    engine = ScanEngine(ctx, [], [gate], sweep=sweep, scan_ports=ports, liveness=fake)
    await asyncio.wait_for(engine.run(), 30)
    assert gate.done == ["127.0.0.9"]
    c = engine.coverage
    assert (c.alive, c.dead, c.uncovered, c.budget_exhausted) == (1, 65_000, 0, 0)
    assert not c.incomplete


async def test_addresses_the_pass_could_not_probe_make_the_scan_incomplete():
    ctx = make_ctx()

    async def ports(ctx: ScanContext, ip: str, **_: object) -> set[int]:
        return set()

    sweep = [f"127.0.0.{i}" for i in range(1, 101)]
    fake = FakePass([], dead=40, uncovered=60)
    engine = ScanEngine(ctx, [], [], sweep=sweep, scan_ports=ports, liveness=fake)
    await asyncio.wait_for(engine.run(), 30)
    c = engine.coverage
    assert c.incomplete and c.uncovered == 60
    assert "60 of 100 addresses not probed" in c.summary()


def test_a_low_rate_lets_fewer_hosts_run_at_once():
    assert hosts_in_flight(512) == 128
    assert hosts_in_flight(512, rate=5000) == 128
    assert hosts_in_flight(512, rate=100) == 12
    assert hosts_in_flight(512, rate=1) == 1


def test_coverage_summary_names_both_counts():
    c = Coverage(addresses=4094, uncovered=12, budget_exhausted=2)
    text = c.summary()
    assert text.startswith("incomplete scan: ")
    assert "12 of 4094 addresses not probed" in text and "2 live host(s)" in text
    assert not Coverage(addresses=10).incomplete


# -- the exit status ------------------------------------------------------------------------


def test_an_incomplete_scan_exits_3_with_one_line_and_a_partial_list(monkeypatch, capsys):
    from camscan.cli import main
    from camscan.commands import scan as scan_cmd
    from camscan.model import ScanInfo, ScanResult

    def fake_scan_and_write(opts, *, output, csv, quiet):  # noqa: ANN001
        info = ScanInfo(mode="active", targets=["198.18.200.0/26"], modules=[], policy=[])
        info.partial = True
        info.warnings = ["scan: incomplete scan: 62 of 62 addresses not probed (no route)"]
        return ScanResult(info, [])

    monkeypatch.setattr(scan_cmd, "scan_and_write", fake_scan_and_write)
    with pytest.raises(SystemExit) as exited:
        main(["scan", "198.18.200.0/26", "-q"])
    assert exited.value.code == scan_cmd.EXIT_INCOMPLETE == 3
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("camscan: incomplete scan: 62 of 62")]
    assert len(lines) == 1 and lines[0].endswith("the device list is marked partial")
