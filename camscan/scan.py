"""The active scan engine: every module at once on one event loop, bounded.

Broadcast modules (multicast/broadcast inquiries, ARP) run side by side for their listen
windows. Every live host — found by ARP, by any answer, or (off-link, or without ARP) by
sweeping the targets — goes once through the host pipeline: a port sweep, then the host modules
whose ports are open, all within the host budget. Wall time is therefore about the longest
listen window plus the slowest host, not a sum of waits. With hundreds of live hosts, at most
`hosts_in_flight()` of them run their modules at a time, so each still finishes well within
its budget on a busy event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from camscan.discovery.base import BroadcastModule, HostModule, RateLimiter, ScanContext
from camscan.discovery.liveness import LivenessPass
from camscan.model import Evidence

if TYPE_CHECKING:
    from camscan.workers import Workers


@dataclass(slots=True)
class Progress:
    """Counters the progress display reads; nothing else depends on them."""

    modules_total: int = 0
    modules_done: int = 0
    hosts_seen: int = 0
    hosts_done: int = 0
    evidence: int = 0
    # The liveness pass over large or off-link ranges, while it runs (None otherwise): its
    # stats (addresses, resolved, alive ...) and eta() are read by the progress line.
    liveness: LivenessPass | None = None


@dataclass(slots=True)
class Coverage:
    """How complete the scan was: the counts behind `scan.partial`."""

    addresses: int = 0  # addresses the scan was asked to cover
    swept: int = 0  # of those, given to the liveness pass or swept directly
    alive: int = 0  # answered the liveness pass
    dead: int = 0  # a router (or the scanner's own ARP) said unreachable
    silent: int = 0  # no answer to any liveness probe
    uncovered: int = 0  # could not be probed at all (no route, local firewall, cut short)
    budget_exhausted: int = 0  # live hosts whose host budget ran out before their modules did

    @property
    def incomplete(self) -> bool:
        return bool(self.uncovered or self.budget_exhausted)

    def summary(self) -> str:
        """One line for the terminal and the warnings, e.g. "incomplete scan: 512 of 65534
        addresses not probed (no route or no resources); 3 live hosts ran out of budget"."""
        parts = []
        if self.uncovered:
            parts.append(
                f"{self.uncovered} of {self.addresses} addresses not probed "
                "(no route from the scanner, a local firewall, or cut short)"
            )
        if self.budget_exhausted:
            parts.append(
                f"{self.budget_exhausted} live host(s) ran out of their host budget "
                "before every module had finished (raise --host-budget)"
            )
        return "incomplete scan: " + "; ".join(parts)


def raw_sockets_permitted() -> bool:
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except (PermissionError, OSError, AttributeError):
        return False
    s.close()
    return True


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hosts_in_flight(concurrency: int, rate: float | None = None) -> int:
    """How many hosts go through their pipelines at once (see _host_pipeline for addresses
    that are only swept).

    Every host still gets its turn; the cap only keeps the number of hosts that share the one
    event loop (and the CPU) small enough for each to finish well within its budget. With all
    1,000 hosts of a /21 in flight at once, the loop was saturated, every host took about as
    long as the whole scan and 90% of them ran out of host budget.

    Under a low `--rate`, fewer still: every host's probes wait for the same rate tokens, and
    a host whose ~50 connects and requests queue behind too many others would spend its
    budget waiting (one host's share of the rate is rate / hosts in flight)."""
    cap = max(8, concurrency // 4)
    if rate is not None and rate > 0:
        cap = min(cap, max(1, int(rate / HOST_PROBES_PER_SECOND)))
    return cap


#: Probes one host's pipeline wants per second of its budget to finish well within it (its
#: ~22-port sweep and ~10-30 requests, spread over a few seconds).
HOST_PROBES_PER_SECOND = 8


class ScanEngine:
    def __init__(
        self,
        ctx: ScanContext,
        broadcast: Sequence[BroadcastModule],
        host: Sequence[HostModule],
        *,
        sweep: Sequence[str],
        scan_ports: Callable[..., object],
        progress: Progress | None = None,
        liveness: Callable[..., LivenessPass] | None = None,
        addresses: int | None = None,
    ) -> None:
        """`sweep`: addresses to port-sweep even if nothing else shows them live.
        `scan_ports(ctx, ip, retry_silent=...)` is the ports module's sweep (awaitable -> set
        of open ports); `retry_silent()` tells it whether the host is known to be live.
        `liveness(ctx, addresses, total, on_alive=..., room=...)`, when given, builds the
        liveness pass that `sweep` goes through first: only the addresses it finds alive get
        the full sweep. `addresses`: how many addresses the scan covers (for Coverage).
        use_workers() hands the host pipelines to worker processes."""
        self.ctx = ctx
        self.broadcast = list(broadcast)
        self.host = list(host)
        self.sweep = list(sweep)
        self.scan_ports = scan_ports
        self.progress = progress or Progress()
        self.liveness = liveness
        self.coverage = Coverage(addresses=len(sweep) if addresses is None else addresses)
        self._started: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = True
        self._live: set[str] = set()  # hosts some module saw (ARP, a discovery answer ...)
        self._in_flight = hosts_in_flight(ctx.settings.concurrency, ctx.settings.rate)
        self._hosts_in_flight = asyncio.Semaphore(self._in_flight)
        self._waiting = 0  # live hosts waiting for their turn
        self._turn_freed = asyncio.Event()
        self.workers: Workers | None = None
        self._given: list[int] = []  # hosts not done, per worker
        self._owner: dict[str, int] = {}  # host -> the worker running its pipeline
        self._workers_idle = asyncio.Event()
        self._ended: set[int] = set()  # workers that said "end" or were lost
        self._giving = 0  # hosts to be given out in the next turn
        self._finishing = False  # workers told to finish: a host found now runs here

    def host_seen(self, ip: str) -> None:
        """A module learnt that ip is live (evidence about it): start its pipeline once."""
        self._start(ip)
        if ip in self._started:
            self._live.add(ip)

    def _alive(self, ip: str) -> None:
        """The liveness pass found ip alive: a live host, its full sweep starts."""
        if ip not in self._started:
            self._live.add(ip)
        self._start(ip)

    def _start(self, ip: str) -> None:
        if not self._accepting or ip in self._started or not self.ctx.in_scope(ip):
            return
        self._started.add(ip)
        self.progress.hosts_seen += 1
        if self.workers is not None and not self._finishing:
            # next turn: whoever started it marks it live right after this call
            self._giving += 1
            asyncio.get_running_loop().call_soon(self._give, ip)
            return
        self._run_here(ip)

    # -- host pipelines in worker processes (camscan.workers) ------------------------------
    def use_workers(self, workers: Workers) -> None:
        """Run the host pipelines in `workers` (started before run()); the scan's own process
        keeps its part of the rate cap and connection limit."""
        from camscan.workers import shared_settings

        self.workers = workers
        self._given = [0] * workers.count
        mine = shared_settings(self.ctx.settings, workers.count + 1)
        self.ctx.limiter = RateLimiter(mine.concurrency, mine.rate)

    def _give(self, ip: str) -> None:
        assert self.workers is not None
        self._giving -= 1
        alive = [w for w in range(len(self._given)) if w not in self._ended]
        if alive and not self._finishing:
            w = min(alive, key=self._given.__getitem__)
            try:
                self.workers.conns[w].send(("host", ip, ip in self._live, self.ctx.all_hints(ip)))
            except OSError:
                self._worker_lost(w)
            else:
                self._given[w] += 1
                self._owner[ip] = w
                self._workers_idle.clear()
                return
        self._run_here(ip)  # no worker left to take it

    def _run_here(self, ip: str) -> None:
        task = asyncio.get_running_loop().create_task(self._host_pipeline(ip))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _hint(self, ip: str, key: str, value: str) -> None:
        w = self._owner.get(ip)
        if w is not None and self.workers is not None:
            with contextlib.suppress(OSError):  # a lost worker: _from_worker says so
                self.workers.conns[w].send(("hint", ip, key, value))

    def _from_worker(self, w: int) -> None:
        assert self.workers is not None
        conn = self.workers.conns[w]
        ctx = self.ctx
        while True:
            try:
                if not conn.poll():
                    return
                message = conn.recv()
            except (EOFError, OSError):
                self._worker_lost(w)
                return
            kind = message[0]
            if kind == "evidence":
                for ev in message[1]:
                    ctx.emit(ev)
            elif kind == "warning":
                module, _, text = message[1].partition(": ")
                ctx.warn(module, text)
            elif kind == "note":
                ctx.note(message[1], message[2])
            elif kind == "hint":
                _, ip, key, value = message
                ctx.add_hint(ip, key, value)
            elif kind == "done":
                self._given[w] -= 1
                self.coverage.budget_exhausted += message[2]
                self.progress.hosts_done += 1
                if not any(self._given):
                    self._workers_idle.set()
            elif kind == "end":
                self._ended.add(w)
                self._workers_idle.set()

    def _worker_lost(self, w: int) -> None:
        """A worker ended before its hosts were done (killed, out of memory): they count as
        not probed, the scan says so and goes on."""
        assert self.workers is not None
        asyncio.get_running_loop().remove_reader(self.workers.conns[w].fileno())
        if w in self._ended:
            return  # it said "end" and closed its pipe: nothing was lost
        self._ended.add(w)
        lost, self._given[w] = self._given[w], 0
        self.coverage.uncovered += lost
        self.progress.hosts_done += lost
        self.ctx.warn("scan", f"worker process {w + 1} ended early; {lost} host(s) not probed")
        self._workers_idle.set()

    async def _workers_finish(self) -> None:
        """Every host given to a worker is done; then each worker flushes and ends."""
        assert self.workers is not None
        while any(self._given) or self._giving:
            self._workers_idle.clear()
            if self._giving:
                await asyncio.sleep(0)  # they are given out in this turn
                continue
            await self._workers_idle.wait()
        self._finishing = True
        for w, conn in enumerate(self.workers.conns):
            try:
                conn.send(("finish",))
            except OSError:
                self._worker_lost(w)
        while len(self._ended) < self.workers.count:
            self._workers_idle.clear()
            await self._workers_idle.wait()

    async def _room(self) -> None:
        """Held by the liveness pass before each fresh address: while more live hosts wait
        for a turn than run, finding more of them only makes the queue longer."""
        while self._waiting > 2 * self._in_flight:
            self._turn_freed.clear()
            await self._turn_freed.wait()

    async def _host_pipeline(self, ip: str) -> None:
        ctx = self.ctx
        budget = ctx.settings.host_budget
        loop = asyncio.get_running_loop()
        try:
            async with contextlib.AsyncExitStack() as turn:
                # A live host takes its turn before its port sweep: the sweep's answers feed
                # the modules at once, and fresh neighbours swept hundreds at a time make the
                # kernel resolve all their MACs at once (in the lab, where one kernel hands
                # every broadcast to every device, the first SYNs of 700 of 1,000 hosts timed
                # out). A swept address nobody saw (no liveness pass: a short list) is only a
                # guess: it waits for a turn only once it shows open ports.
                has_turn = ip in self._live
                if has_turn:
                    await self._take_turn(turn)
                # The budget starts here, with the host's own work: never while it waits.
                started = loop.time()
                async with asyncio.timeout(budget):
                    open_ports = await self.scan_ports(  # type: ignore[misc]
                        ctx, ip, retry_silent=lambda: ip in self._live
                    )
                if not open_ports:
                    return
                swept = loop.time() - started
                if not has_turn:
                    await self._take_turn(turn)
                async with asyncio.timeout(max(0.0, budget - swept)):
                    await asyncio.gather(
                        *(
                            self._guard(m.name, m.probe(ctx, ip, set(open_ports)))
                            for m in self.host
                            if m.ports is None or m.ports & open_ports
                        )
                    )
        except TimeoutError:
            self.coverage.budget_exhausted += 1
            ctx.warn("scan", f"{ip}: host budget of {budget:g}s used up")
        finally:
            self.progress.hosts_done += 1

    async def _take_turn(self, turn: contextlib.AsyncExitStack) -> None:
        self._waiting += 1
        try:
            await turn.enter_async_context(self._hosts_in_flight)
        finally:
            self._waiting -= 1
            self._turn_freed.set()

    async def _guard(self, name: str, coro: object) -> None:
        """Run one module; a module that fails is reported and the others go on."""
        try:
            await coro  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a module bug must not end the scan
            self.ctx.warn(name, f"module failed: {type(exc).__name__}: {exc}")

    async def _broadcast(self, module: BroadcastModule) -> None:
        try:
            async with asyncio.timeout(self.ctx.settings.module_budget):
                await self._guard(module.name, module.run(self.ctx))
        except TimeoutError:
            self.ctx.warn(
                module.name, f"module budget of {self.ctx.settings.module_budget:g}s used up"
            )
        finally:
            self.progress.modules_done += 1

    async def _liveness_pass(self) -> None:
        assert self.liveness is not None
        total = len(self.sweep)
        lp = self.liveness(self.ctx, self.sweep, total, on_alive=self._alive, room=self._room)
        self.progress.liveness = lp
        stats = lp.stats
        try:
            await lp.run()
        finally:
            c = self.coverage
            c.swept += total
            c.alive, c.dead, c.silent = stats.alive, stats.dead, stats.silent
            c.uncovered += stats.uncovered + (total - stats.resolved)
            self.progress.liveness = None

    async def run(self) -> list[Evidence]:
        raise_fd_limit()
        self.ctx.in_scan = True
        self.progress.modules_total = len(self.broadcast) + len(self.host) + 1
        loop = asyncio.get_running_loop()
        if self.workers is not None:
            for w, conn in enumerate(self.workers.conns):
                loop.add_reader(conn.fileno(), self._from_worker, w)
            self.ctx.watch_hints(self._hint)
        broadcast = [asyncio.create_task(self._broadcast(m)) for m in self.broadcast]
        passes: list[asyncio.Task[None]] = []
        if self.liveness is not None and self.sweep:
            passes.append(asyncio.create_task(self._liveness_pass()))
        else:
            self.coverage.swept += len(self.sweep)
            for ip in self.sweep:
                self._start(ip)  # not known to be live: only a sweep will tell
        try:
            await asyncio.gather(*broadcast)
            self.ctx.discovery_done.set()
            if self.workers is not None:
                for conn in self.workers.conns:
                    with contextlib.suppress(OSError):
                        conn.send(("discovery_done",))
            await asyncio.gather(*passes)
            # Host pipelines started late (answers at the end of a window) still finish.
            while self._tasks:
                await asyncio.gather(*list(self._tasks))
            if self.workers is not None:
                await self._workers_finish()
                while self._tasks:  # found while the workers finished: run here
                    await asyncio.gather(*list(self._tasks))
        finally:
            for t in passes:
                t.cancel()
            if self.workers is not None:
                self.ctx.watch_hints(None)
                for conn in self.workers.conns:
                    with contextlib.suppress(OSError, ValueError):
                        loop.remove_reader(conn.fileno())
        self._accepting = False
        self.progress.modules_done = self.progress.modules_total
        return self.ctx.evidence
