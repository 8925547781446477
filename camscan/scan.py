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

from camscan.discovery.base import BroadcastModule, HostModule, ScanContext
from camscan.model import Evidence


@dataclass(slots=True)
class Progress:
    """Counters the progress display reads; nothing else depends on them."""

    modules_total: int = 0
    modules_done: int = 0
    hosts_seen: int = 0
    hosts_done: int = 0
    evidence: int = 0


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


def hosts_in_flight(concurrency: int) -> int:
    """How many hosts go through their pipelines at once (see _host_pipeline for addresses
    that are only swept).

    Every host still gets its turn; the cap only keeps the number of hosts that share the one
    event loop (and the CPU) small enough for each to finish well within its budget. With all
    1,000 hosts of a /21 in flight at once, the loop was saturated, every host took about as
    long as the whole scan and 90% of them ran out of host budget."""
    return max(8, concurrency // 4)


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
    ) -> None:
        """`sweep`: addresses to port-sweep even if nothing else shows them live.
        `scan_ports(ctx, ip, retry_silent=...)` is the ports module's sweep (awaitable -> set
        of open ports); `retry_silent()` tells it whether the host is known to be live."""
        self.ctx = ctx
        self.broadcast = list(broadcast)
        self.host = list(host)
        self.sweep = list(sweep)
        self.scan_ports = scan_ports
        self.progress = progress or Progress()
        self._started: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = True
        self._live: set[str] = set()  # hosts some module saw (ARP, a discovery answer ...)
        self._hosts_in_flight = asyncio.Semaphore(hosts_in_flight(ctx.settings.concurrency))

    def host_seen(self, ip: str) -> None:
        """A module learnt that ip is live (evidence about it): start its pipeline once."""
        self._start(ip)
        if ip in self._started:
            self._live.add(ip)

    def _start(self, ip: str) -> None:
        if not self._accepting or ip in self._started or not self.ctx.in_scope(ip):
            return
        self._started.add(ip)
        self.progress.hosts_seen += 1
        task = asyncio.get_running_loop().create_task(self._host_pipeline(ip))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _host_pipeline(self, ip: str) -> None:
        ctx = self.ctx
        budget = ctx.settings.host_budget
        loop = asyncio.get_running_loop()
        try:
            async with contextlib.AsyncExitStack() as turn:
                # A host some module saw takes its turn before its port sweep: the sweep's
                # answers feed the modules at once, and fresh neighbours swept hundreds at a
                # time make the kernel resolve all their MACs at once (in the lab, where one
                # kernel hands every broadcast to every device, the first SYNs of 700 of 1,000
                # hosts timed out). A swept address nobody saw is only a guess: it waits for a
                # turn only once it shows open ports, so sweeping empty space stays fast.
                has_turn = ip in self._live
                if has_turn:
                    await turn.enter_async_context(self._hosts_in_flight)
                started = loop.time()
                async with asyncio.timeout(budget):
                    open_ports = await self.scan_ports(  # type: ignore[misc]
                        ctx, ip, retry_silent=lambda: ip in self._live
                    )
                if not open_ports:
                    return
                swept = loop.time() - started  # waiting for a turn does not use the budget
                if not has_turn:
                    await turn.enter_async_context(self._hosts_in_flight)
                async with asyncio.timeout(max(0.0, budget - swept)):
                    await asyncio.gather(
                        *(
                            self._guard(m.name, m.probe(ctx, ip, set(open_ports)))
                            for m in self.host
                            if m.ports is None or m.ports & open_ports
                        )
                    )
        except TimeoutError:
            ctx.warn("scan", f"{ip}: host budget of {budget:g}s used up")
        finally:
            self.progress.hosts_done += 1

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

    async def run(self) -> list[Evidence]:
        raise_fd_limit()
        self.ctx.in_scan = True
        self.progress.modules_total = len(self.broadcast) + len(self.host) + 1
        broadcast = [asyncio.create_task(self._broadcast(m)) for m in self.broadcast]
        for ip in self.sweep:
            self._start(ip)  # not known to be live: only a sweep will tell
        await asyncio.gather(*broadcast)
        self.ctx.discovery_done.set()
        # Host pipelines started late (answers at the end of a window) still finish.
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        self._accepting = False
        self.progress.modules_done = self.progress.modules_total
        return self.ctx.evidence
