"""The active scan engine: every module at once on one event loop, bounded.

Broadcast modules (multicast/broadcast inquiries, ARP) run side by side for their listen
windows. Every live host — found by ARP, by any answer, or (off-link, or without ARP) by
sweeping the targets — goes once through the host pipeline: a port sweep, then the host modules
whose ports are open, all within the host budget. Wall time is therefore about the longest
listen window plus the slowest host, not a sum of waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    listeners: list[Callable[[Progress], None]] = field(default_factory=list)

    def changed(self) -> None:
        for fn in self.listeners:
            fn(self)


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


class ScanEngine:
    def __init__(
        self,
        ctx: ScanContext,
        broadcast: Sequence[BroadcastModule],
        host: Sequence[HostModule],
        *,
        sweep: Sequence[str],
        scan_ports: Callable[[ScanContext, str], object],
        progress: Progress | None = None,
    ) -> None:
        """`sweep`: addresses to port-sweep even if nothing else shows them live.
        `scan_ports(ctx, ip)` is the ports module's sweep (awaitable -> set of open ports)."""
        self.ctx = ctx
        self.broadcast = list(broadcast)
        self.host = list(host)
        self.sweep = list(sweep)
        self.scan_ports = scan_ports
        self.progress = progress or Progress()
        self._started: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = True

    def host_seen(self, ip: str) -> None:
        if not self._accepting or ip in self._started or not self.ctx.in_scope(ip):
            return
        self._started.add(ip)
        self.progress.hosts_seen += 1
        task = asyncio.get_running_loop().create_task(self._host_pipeline(ip))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _host_pipeline(self, ip: str) -> None:
        ctx = self.ctx
        try:
            async with asyncio.timeout(ctx.settings.host_budget):
                open_ports = await self.scan_ports(ctx, ip)  # type: ignore[misc]
                if not open_ports:
                    return
                runs = [
                    self._guard(m.name, m.probe(ctx, ip, set(open_ports)))
                    for m in self.host
                    if m.ports is None or m.ports & open_ports
                ]
                await asyncio.gather(*runs)
        except TimeoutError:
            ctx.warn("scan", f"{ip}: host budget of {ctx.settings.host_budget:g}s used up")
        finally:
            self.progress.hosts_done += 1
            self.progress.changed()

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
            self.progress.changed()

    async def run(self) -> list[Evidence]:
        raise_fd_limit()
        self.ctx.in_scan = True
        self.progress.modules_total = len(self.broadcast) + len(self.host) + 1
        broadcast = [asyncio.create_task(self._broadcast(m)) for m in self.broadcast]
        for ip in self.sweep:
            self.host_seen(ip)
        await asyncio.gather(*broadcast)
        self.ctx.discovery_done.set()
        # Host pipelines started late (answers at the end of a window) still finish.
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        self._accepting = False
        self.progress.modules_done = self.progress.modules_total
        self.progress.changed()
        return self.ctx.evidence
