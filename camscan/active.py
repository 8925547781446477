"""`camscan scan`: from options to a finished device list (also used by `camscan demo`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camscan.credentials import load_credentials
from camscan.discovery import registry
from camscan.discovery.base import BroadcastModule, ScanContext, ScanSettings
from camscan.discovery.liveness import AdaptiveTimeout, LivenessPass, open_icmp_socket
from camscan.discovery.ports import scan_ports
from camscan.discovery.segments import inquiry_segments
from camscan.fingerprint.engine import Engine
from camscan.fusion import attach_notes
from camscan.model import Evidence, ScanInfo, ScanResult
from camscan.pipeline import finish
from camscan.scan import Progress, ScanEngine, raw_sockets_permitted
from camscan.scope import build_scope, choose_interface, default_targets
from camscan.workers import Workers


@dataclass(slots=True)
class ScanOptions:
    targets: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    interface: str | None = None
    allow_public: bool = False
    max_hosts: int | None = None
    modules: list[str] | None = None
    settings: ScanSettings = field(default_factory=ScanSettings)
    credentials: Path | None = None
    policy: str | None = None
    fingerprints: list[Path] = field(default_factory=list)
    liveness: bool = True  # find the live addresses of a long sweep list first
    workers: int | None = None  # host pipelines in this many processes (None or 0: none)


@dataclass(slots=True)
class PreparedScan:
    """Everything checked before the first packet: a bad option fails here."""

    engine: Engine
    ctx: ScanContext
    scan: ScanEngine
    info: ScanInfo
    policy: str | None


def prepare(opts: ScanOptions, progress: Progress | None = None) -> PreparedScan:
    progress = progress or Progress()
    engine = Engine.load(opts.fingerprints)
    targets = list(opts.targets)
    interface = opts.interface
    if not targets:
        targets, interface = default_targets(interface, opts.max_hosts)
    scope = build_scope(
        targets, opts.excludes, allow_public=opts.allow_public, max_hosts=opts.max_hosts
    )
    attachment = choose_interface(interface, scope.targets)
    credentials = load_credentials(opts.credentials) if opts.credentials else None
    broadcast, host = registry.select(opts.modules)
    names = list(dict.fromkeys([m.name for m in broadcast] + ["ports"] + [m.name for m in host]))
    info = ScanInfo(
        mode="active", targets=[str(t) for t in scope.targets], modules=names, policy=[]
    )
    attached = [attachment.network] if attachment else []
    local_ip = attachment.address if attachment else None
    segments = inquiry_segments(attached, scope.targets, scope.excludes, local_ip)
    ctx = ScanContext(
        targets=list(scope.targets),
        interface=attachment.interface if attachment else interface,
        local_ip=local_ip,
        settings=opts.settings,
        credentials=credentials,
        attached=attached,
        segments=segments,
        in_scope=scope.allows,
        on_evidence=lambda _ev: _count(progress),
    )
    broadcast = on_segments_only(ctx, broadcast)
    arp_live = any(m.name == "arp" for m in broadcast) and raw_sockets_permitted()
    if any(m.name == "arp" for m in broadcast) and not arp_live:
        ctx.warn("arp", "skipped: raw sockets need root or CAP_NET_RAW; sweeping every address")
        broadcast = [m for m in broadcast if m.name != "arp"]
    # With ARP on the attached segment, live hosts announce themselves; elsewhere sweep all.
    addresses = list(scope.addresses())
    sweep = [ip for ip in addresses if not (arp_live and ctx.on_link(ip))]
    use_liveness = opts.liveness and len(sweep) > LIVENESS_MIN_ADDRESSES
    engine_ = ScanEngine(
        ctx,
        broadcast,
        host,
        sweep=sweep,
        scan_ports=scan_ports,
        progress=progress,
        liveness=liveness_pass if use_liveness else None,
        addresses=len(addresses),
    )
    ctx.feed_hosts_to(engine_.host_seen)
    count = worker_count(opts.workers)
    if count:
        engine_.use_workers(Workers(count, ctx, host, scan_ports))
    return PreparedScan(engine, ctx, engine_, info, opts.policy)


def worker_count(asked: int | None) -> int:
    """Worker processes for the host pipelines: none unless asked. On the 2-core benchmark
    machine one worker made the 1,000-device office slower (27.7-28.8 s against 24.7 s: the
    lab's device simulator holds the other core, and handing evidence across costs CPU), so
    it is not the default until a benchmark shows where it pays."""
    return max(0, asked or 0)


#: A sweep list this short is port-swept directly: the liveness pass would save little.
LIVENESS_MIN_ADDRESSES = 32


def liveness_pass(
    ctx: ScanContext,
    addresses: Sequence[str],
    total: int,
    *,
    on_alive: Callable[[str], None],
    room: Callable[[], Awaitable[None]],
) -> LivenessPass:
    """The liveness pass the scan engine runs over its sweep list (see discovery/liveness).

    It keeps as many connects open as the rate needs while it waits out silent addresses
    (rate × the initial timeout), within the process's file descriptors; with raw sockets it
    also sends ICMP echo."""
    settings = ctx.settings
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(settings.concurrency, int(settings.rate * settings.connect_timeout * 1.5))
    room_fds = max(64, soft // 2 - 256) if soft > 0 else 4096
    return LivenessPass(
        ctx,
        addresses,
        total,
        on_alive=on_alive,
        room=room,
        icmp=open_icmp_socket(),
        timeout=AdaptiveTimeout(initial=settings.connect_timeout),
        max_in_flight=min(wanted, room_fds, 16384),
    )


def on_segments_only(ctx: ScanContext, broadcast: list[BroadcastModule]) -> list[BroadcastModule]:
    """The broadcast modules, or none when no attached subnet holds a target: their
    inquiries (multicast, broadcast, ARP) would reach only hosts that are not targets."""
    if ctx.segments or not broadcast:
        return broadcast
    where = ", ".join(str(n) for n in ctx.attached) or "none"
    names = ", ".join(m.name for m in broadcast)
    ctx.warn("scan", f"no target on the scan interface's subnet ({where}): no multicast or "
             f"broadcast inquiry sent ({names}); hosts are found by the port sweep")  # fmt: skip
    return []


def _count(progress: Progress) -> None:
    progress.evidence += 1


def run(prepared: PreparedScan) -> ScanResult:
    """Run the scan. On Ctrl-C, KeyboardInterrupt propagates; the caller then turns
    prepared.ctx.evidence into a partial result with result_of(..., partial=True)."""
    with fewer_collections():
        workers = prepared.scan.workers
        if workers is not None:
            workers.start()  # forked before the event loop runs
        try:
            asyncio.run(prepared.scan.run())
        finally:
            if workers is not None:
                workers.stop()
        return result_of(prepared, prepared.ctx.evidence)


GC_THRESHOLD = 10_000  # allocations between young-generation collections (Python's is 700)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector, set for a scan. What exists before it (rules, modules,
    the MAC registry) lives as long as the scan: frozen, it is not walked by every full
    collection again. And a scan allocates so fast that Python's young-generation threshold
    meant a collection every few milliseconds. At 1,000 devices this halves the CPU spent
    collecting (1.2 s to 0.55 s); the scan's cycles (tracebacks, futures) are still freed."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def result_of(
    prepared: PreparedScan, evidence: list[Evidence], partial: bool = False
) -> ScanResult:
    info = prepared.info
    info.finished_at = time.time()
    ctx = prepared.ctx
    coverage = prepared.scan.coverage
    if coverage.incomplete:
        ctx.warn("scan", coverage.summary())
    info.partial = partial or coverage.incomplete
    ctx.outside_warning()
    info.warnings = list(ctx.warnings)
    kept = [ev for ev in evidence if ev.ip is None or ctx.in_scope(ev.ip)]
    result = finish(kept, prepared.engine, info, prepared.policy)
    # Bare devices (notes, no evidence) name no maker: the policy has nothing to add to them.
    attach_notes(result.devices, {ip: list(n) for ip, n in ctx.notes.items()}, ctx.in_scope)
    return result
