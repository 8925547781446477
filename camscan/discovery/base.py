"""What every discovery module gets (ScanContext) and the two shapes a module takes.

* A BroadcastModule runs once per scan (WS-Discovery, mDNS, SSDP, SADP, Dahua, ARP ...): it
  sends its inquiry out of the scan interface, listens for `settings.listen_window` seconds and
  emits evidence for every answer.
* A HostModule runs once per live host (ports, http, rtsp, onvif ...). The scan engine calls
  `probe(ctx, ip, open_ports)` after the `ports` module has swept the host; a module whose
  `ports` do not intersect the open ports is skipped for that host.

Modules never raise for what a device sends: a parse failure is a warning (ctx.warn), never an
exception out of run/probe. Every socket operation is bounded in time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from camscan.discovery.segments import inquiry_segments, outside_answers_warning
from camscan.model import Evidence
from camscan.notes import add_note

# Camera-typical TCP ports (../shared/facts/fingerprints.md, ports cheat-sheet).
DEFAULT_PORTS: tuple[int, ...] = (
    21, 22, 23, 80, 81, 88, 443, 554, 5000, 5001, 7001, 8000, 8001, 8080, 8081, 8443, 8554,
    8899, 9000, 10554, 34567, 37777,
)  # fmt: skip


_MAX_OUTSIDE = 4096  # outside hosts remembered per module (for the warning)
_SCOPE_MEMO_SIZE = 65536  # addresses whose scope check is remembered (every evidence item asks)


@dataclass(frozen=True, slots=True)
class Credentials:
    """ONVIF credentials the user gave in a file. Never logged, never written out. `hosts`:
    the only networks they may be sent to (the file's `hosts:`); none means nowhere."""

    username: str
    password: str = field(repr=False)
    hosts: tuple[ipaddress.IPv4Network, ...] = ()

    def allows(self, ip: str) -> bool:
        """May these credentials be sent to `ip`?"""
        return any(_contains(n, ip) for n in self.hosts)

    def __repr__(self) -> str:
        hosts = ", ".join(str(n) for n in self.hosts)
        return f"Credentials(username={self.username!r}, password=***, hosts=[{hosts}])"


@dataclass(slots=True)
class ScanSettings:
    listen_window: float = 2.0  # multicast modules listen this long for answers (s)
    connect_timeout: float = 1.0  # one TCP connect (s)
    io_timeout: float = 3.0  # one request/response exchange (s)
    host_budget: float = 15.0  # all host modules on one host together (s)
    module_budget: float = 30.0  # one broadcast module, listen window included (s)
    concurrency: int = 512  # simultaneous connections / in-flight probes
    rate: float = 5000.0  # new connections or packets per second
    ports: tuple[int, ...] = DEFAULT_PORTS
    max_body: int = 256 * 1024  # bytes read of any one HTTP/RTSP/UPnP answer
    max_datagrams: int = 4096  # answers one broadcast module keeps, at most


class RateLimiter:
    """Token bucket plus a semaphore: at most `concurrency` at once, `rate` starts per second."""

    def __init__(self, concurrency: int, rate: float) -> None:
        self._sem = asyncio.Semaphore(max(1, concurrency))
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def pace(self) -> None:
        """Wait for the rate cap only (for work already holding a concurrency slot)."""
        await self._pace()

    async def _pace(self) -> None:
        if not self._interval:
            return
        # No await between reading and moving _next: on one event loop this needs no lock.
        now = time.monotonic()
        wait = self._next - now
        self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._sem:
            await self._pace()
            yield


class ScanContext:
    """Shared state of one scan, handed to every module."""

    def __init__(
        self,
        *,
        targets: list[ipaddress.IPv4Network],
        interface: str | None,
        local_ip: str | None,
        settings: ScanSettings | None = None,
        credentials: Credentials | None = None,
        attached: list[ipaddress.IPv4Network] | None = None,
        segments: list[ipaddress.IPv4Network] | None = None,
        in_scope: Callable[[str], bool] | None = None,
        on_evidence: Callable[[Evidence], None] | None = None,
        on_host: Callable[[str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.targets = targets
        self.interface = interface
        self.local_ip = local_ip
        self.settings = settings or ScanSettings()
        self.credentials = credentials
        self.attached = attached if attached is not None else list(targets)
        # The attached subnets a multicast or broadcast inquiry may go out on (segments.py):
        # those holding a target. The scan passes them with its exclusions taken out.
        self.segments = (
            segments if segments is not None else inquiry_segments(self.attached, targets)
        )
        # Hosts outside the targets that answered a segment-wide inquiry: module -> addresses
        self.outside: dict[str, set[str]] = {}
        self.limiter = RateLimiter(self.settings.concurrency, self.settings.rate)
        self._in_scope = in_scope or (lambda ip: any(_contains(n, ip) for n in targets))
        self._scope_memo: dict[str, bool] = {}  # the scope never changes during a scan
        self._on_evidence = on_evidence
        self._on_host = on_host
        self._on_warning = on_warning
        self.evidence: list[Evidence] = []
        self.warnings: list[str] = []
        self.notes: dict[str, list[str]] = {}  # ip -> what was wrong with its answers
        self._hints: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._warned: set[str] = set()
        self._on_hint: Callable[[str, str, str], None] | None = None
        self.discovery_done = asyncio.Event()  # set when every broadcast module has finished
        self.in_scan = False  # true while the scan engine runs (modules may wait for discovery)

    # -- scope ---------------------------------------------------------------
    def in_scope(self, ip: str) -> bool:
        """True when ip may be probed (targets, minus exclusions, within the scope guard)."""
        known = self._scope_memo.get(ip)
        if known is None:
            known = self._in_scope(ip)
            if len(self._scope_memo) < _SCOPE_MEMO_SIZE:
                self._scope_memo[ip] = known
        return known

    def on_link(self, ip: str) -> bool:
        """True when ip is on a subnet attached to the scan interface (multicast reaches it)."""
        return any(_contains(n, ip) for n in self.attached)

    def heard_outside(self, module: str, ip: str) -> None:
        """`ip`, outside the targets, answered `module`'s inquiry: its answer is dropped and
        the scan says so (outside_warning)."""
        if ip in (self.local_ip, "0.0.0.0"):
            return
        seen = self.outside.setdefault(module, set())
        if len(seen) < _MAX_OUTSIDE:
            seen.add(ip)

    def outside_warning(self) -> None:
        """One scan warning naming the hosts outside the targets that answered (if any)."""
        ips = {ip for seen in self.outside.values() for ip in seen}
        text = outside_answers_warning(ips, sorted(m for m, s in self.outside.items() if s))
        if text:
            self.warn("scan", text)

    def feed_hosts_to(self, on_host: Callable[[str], None]) -> None:
        """Where host_seen() sends live hosts (the scan engine's host pipeline)."""
        self._on_host = on_host

    # -- results -------------------------------------------------------------
    def emit(self, ev: Evidence) -> None:
        """Record one evidence item. Evidence about a host also marks it live."""
        self.evidence.append(ev)
        if self._on_evidence:
            self._on_evidence(ev)
        if ev.ip:
            self.host_seen(ev.ip)

    def host_seen(self, ip: str) -> None:
        """A module learnt that ip is live: the engine feeds it to the host modules."""
        if self._on_host:
            self._on_host(ip)

    def warn(self, module: str, message: str) -> None:
        """A non-fatal problem; repeated identical warnings are kept once."""
        text = f"{module}: {message}"
        if text in self._warned or len(self._warned) > 1000:
            return
        self._warned.add(text)
        self.warnings.append(text)
        if self._on_warning:
            self._on_warning(text)

    def note(self, ip: str, text: str) -> None:
        """Something wrong with what one host sent: shown in that device's `notes`
        (camscan.notes.add_note: once, at most 16 per host, control characters visible)."""
        add_note(self.notes, ip, text)

    # -- hints between modules (e.g. ONVIF XAddrs learnt by WS-Discovery) --------
    def add_hint(self, ip: str, key: str, value: str) -> None:
        values = self._hints[ip][key]
        if value not in values and len(values) < 16:
            values.append(value)
            if self._on_hint is not None:
                self._on_hint(ip, key, value)

    def watch_hints(self, on_hint: Callable[[str, str, str], None] | None) -> None:
        """Where new hints are also reported (the scan engine hands them to its workers)."""
        self._on_hint = on_hint

    def all_hints(self, ip: str) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self._hints.get(ip, {}).items()}

    def hints(self, ip: str, key: str) -> list[str]:
        return list(self._hints.get(ip, {}).get(key, ()))


class BroadcastModule(ABC):
    name: str = ""
    needs_raw_socket: bool = False

    @abstractmethod
    async def run(self, ctx: ScanContext) -> None:
        """Send the inquiry, listen for settings.listen_window, emit evidence."""


class HostModule(ABC):
    name: str = ""
    ports: frozenset[int] | None = None  # run only if one of these is open; None: always

    @abstractmethod
    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        """Probe one live host; emit evidence."""


def _contains(net: ipaddress.IPv4Network, ip: str) -> bool:
    try:
        return ipaddress.IPv4Address(ip) in net
    except ValueError:
        return False
