"""Host pipelines in worker processes: the other CPU cores for a big scan.

At a thousand live hosts an active scan is bound by one core: the port sweeps, HTTP, RTSP and
ONVIF exchanges of its host pipelines are Python work on one event loop. With workers, the
scan's own process keeps the broadcast modules (ARP, multicast discovery), the liveness pass
and the fusion; each live host's pipeline (port sweep, then the host modules) runs in one of
`count` forked processes, each with its own event loop. A worker sends back, as they come,
the evidence, warnings, notes and hints of its hosts, and a line when each host is done.

The rate cap and the connection limit are shared out: the scan's process and every worker
each get an equal part, so the scan as a whole stays within `--rate` and `--concurrency`.

Messages (pickled tuples over one pipe per worker):
  to a worker:   ("host", ip, live, hints)  ("hint", ip, key, value)  ("discovery_done",)
                 ("finish",)
  from a worker: ("evidence", [Evidence, ...])  ("warning", text)  ("note", ip, text)
                 ("hint", ip, key, value)  ("done", ip, budget_exhausted)  ("end",)
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from camscan.discovery.base import HostModule, ScanContext, ScanSettings
from camscan.discovery.wsd import xaddr_event
from camscan.model import Evidence
from camscan.scan import ScanEngine

Conn = multiprocessing.connection.Connection


def shared_settings(settings: ScanSettings, parts: int) -> ScanSettings:
    """One process's part of the scan's rate cap and connection limit."""
    return replace(
        settings,
        rate=settings.rate / parts,
        concurrency=max(8, settings.concurrency // parts),
    )


class Workers:
    """`count` forked worker processes. Start them before the scan's event loop runs (a fork
    from inside a running loop would hand the child that loop)."""

    def __init__(
        self,
        count: int,
        ctx: ScanContext,
        host: Sequence[HostModule],
        scan_ports: Callable[..., object],
    ) -> None:
        self.count = count
        self._ctx = ctx
        self._host = list(host)
        self._scan_ports = scan_ports
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self.conns: list[Conn] = []

    def start(self) -> None:
        fork = multiprocessing.get_context("fork")
        settings = shared_settings(self._ctx.settings, self.count + 1)
        for _ in range(self.count):
            ours, theirs = fork.Pipe(duplex=True)
            proc = fork.Process(
                target=_worker_main,
                args=(theirs, self._ctx, settings, self._host, self._scan_ports),
                daemon=True,
            )
            proc.start()
            theirs.close()
            self._procs.append(proc)
            self.conns.append(ours)

    def stop(self) -> None:
        """End every worker (after the scan, or when it is interrupted)."""
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
        for proc in self._procs:
            proc.join(timeout=2)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)
        self._procs.clear()
        self.conns.clear()


# -- the worker process -------------------------------------------------------------------


def _worker_main(
    conn: Conn,
    parent_ctx: ScanContext,
    settings: ScanSettings,
    host: list[HostModule],
    scan_ports: Callable[..., object],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scan's process's to handle
    try:
        asyncio.run(_serve(conn, parent_ctx, settings, host, scan_ports))
    except (EOFError, OSError):
        pass  # the scan's process went away: nothing left to report to
    except BaseException:  # noqa: BLE001 - a worker's bug is shown, then the worker ends
        traceback.print_exc()
    finally:
        os._exit(0)  # nothing of the parent's (atexit handlers, buffered output) runs twice


class _Outbox:
    """Evidence of one event-loop turn goes back in one message."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._evidence: list[Evidence] = []

    def evidence(self, ev: Evidence) -> None:
        if not self._evidence:
            asyncio.get_running_loop().call_soon(self.flush)
        self._evidence.append(ev)

    def flush(self) -> None:
        if self._evidence:
            batch, self._evidence = self._evidence, []
            self.conn.send(("evidence", batch))

    def send(self, message: tuple[Any, ...]) -> None:
        self.flush()  # keep the order: a host's evidence before its "done"
        self.conn.send(message)


async def _serve(
    conn: Conn,
    parent_ctx: ScanContext,
    settings: ScanSettings,
    host: list[HostModule],
    scan_ports: Callable[..., object],
) -> None:
    out = _Outbox(conn)
    ctx = _WorkerContext(parent_ctx, settings, out)
    engine = _WorkerEngine(ctx, [], host, sweep=[], scan_ports=scan_ports, out=out)
    finished = asyncio.Event()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        while conn.poll():
            message = conn.recv()
            kind = message[0]
            if kind == "host":
                _, ip, live, hints = message
                for key, values in hints.items():
                    for value in values:
                        ctx.add_hint(ip, key, value, forward=False)
                engine.give(ip, live)
            elif kind == "hint":
                _, ip, key, value = message
                ctx.add_hint(ip, key, value, forward=False)
                if key == "onvif_xaddr":
                    xaddr_event(ctx, ip).set()
            elif kind == "discovery_done":
                ctx.discovery_done.set()
            elif kind == "finish":
                finished.set()
                return

    loop.add_reader(conn.fileno(), readable)
    try:
        await finished.wait()
        await engine.drain()
    finally:
        loop.remove_reader(conn.fileno())
    out.send(("end",))


class _WorkerContext(ScanContext):
    """The scan's context as a worker sees it: its own evidence list and rate limiter; what
    it learns goes back to the scan's process as it comes."""

    def __init__(self, parent: ScanContext, settings: ScanSettings, out: _Outbox) -> None:
        super().__init__(
            targets=parent.targets,
            interface=parent.interface,
            local_ip=parent.local_ip,
            settings=settings,
            credentials=parent.credentials,
            attached=parent.attached,
            segments=parent.segments,
            in_scope=parent.in_scope,
            on_evidence=out.evidence,
            on_warning=lambda text: out.send(("warning", text)),
        )
        self.in_scan = True
        self._out = out

    def note(self, ip: str, text: str) -> None:
        super().note(ip, text)
        self._out.send(("note", ip, text))

    def add_hint(self, ip: str, key: str, value: str, *, forward: bool = True) -> None:
        known = value in self.hints(ip, key)
        super().add_hint(ip, key, value)
        if forward and not known:
            self._out.send(("hint", ip, key, value))


class _WorkerEngine(ScanEngine):
    """A scan engine without broadcast modules: it runs the pipelines of the hosts it is
    given and says when each is done."""

    def __init__(self, *args: Any, out: _Outbox, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._out = out

    def give(self, ip: str, live: bool) -> None:
        if live:
            self._live.add(ip)
        self._start(ip)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def _host_pipeline(self, ip: str) -> None:
        before = self.coverage.budget_exhausted
        try:
            await super()._host_pipeline(ip)
        finally:
            self._out.send(("done", ip, self.coverage.budget_exhausted - before))
