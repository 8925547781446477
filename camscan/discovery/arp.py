"""ARP who-has sweep of the in-scope addresses on the scan interface's own subnets: every
live host on the segment answers with its MAC (the vendor's OUI), even with every TCP port
closed. Needs a raw socket (root or CAP_NET_RAW); without one the module says so and stops.

Replies get lost now and then, so addresses that stayed silent are asked a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import struct
import time
from collections.abc import Callable

from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.udp import set_rcvbuf
from camscan.errors import ParseError
from camscan.model import Evidence

MAX_TARGETS = 4096  # addresses swept at most (a /20)
PASSES = 2
PASS_WAIT = 0.6  # seconds to wait for late replies after each pass, at least
QUIET = 0.5  # ... and on while replies keep coming with gaps shorter than this
_HEX = re.compile(r"[0-9a-f]{12}")


def normalize_mac(text: str) -> str:
    """'AA-BB-CC-00-11-22', 'aabb.cc00.1122', 'AABBCC001122' -> 'aa:bb:cc:00:11:22'.
    ParseError for anything that is not a unicast MAC."""
    if not isinstance(text, str):
        raise ParseError("MAC is not text")
    hex12 = re.sub(r"[:\-.\s]", "", text.strip()).lower()
    if not _HEX.fullmatch(hex12):
        raise ParseError("not a MAC address")
    if int(hex12[:2], 16) & 1 or hex12 == "0" * 12:  # multicast/broadcast or all-zero
        raise ParseError("not a unicast MAC address")
    return ":".join(hex12[i : i + 2] for i in range(0, 12, 2))


def arp_evidence(
    ip: str,
    mac: str,
    *,
    module: str = "arp",
    observed_at: float | None = None,
    packet: int | None = None,
) -> Evidence:
    """`mac` evidence for an ARP reply (sender ip, sender MAC); ParseError on bad fields."""
    try:
        address = ipaddress.IPv4Address(ip)
    except (ValueError, TypeError):
        raise ParseError("ARP sender is not an IPv4 address") from None
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        raise ParseError("ARP sender address is not a host")
    value = normalize_mac(mac)
    return Evidence(
        module=module,
        protocol="mac",
        value=value,
        ip=str(address),
        mac=value,
        observed_at=time.time() if observed_at is None else observed_at,
        packet=packet,
    )


def arp_targets(ctx: ScanContext, limit: int = MAX_TARGETS) -> tuple[list[str], bool]:
    """In-scope addresses of the inquiry segments (attached subnets that hold a target; ours
    excluded), in target order; True when cut at `limit`. Only the targets' part of a segment
    is walked: a /16 segment scanned for one /24 asks about that /24."""
    out: list[str] = []
    seen: set[str] = set()
    for net in ctx.segments:
        for part in _overlaps(net, ctx.targets):
            for host in part:
                ip = str(host)
                if ip == ctx.local_ip or ip in seen or not ctx.in_scope(ip):
                    continue
                if host in (net.network_address, net.broadcast_address) and net.prefixlen <= 30:
                    continue
                if len(out) >= limit:
                    return out, True
                seen.add(ip)
                out.append(ip)
    return out, False


def _overlaps(
    net: ipaddress.IPv4Network, targets: list[ipaddress.IPv4Network]
) -> list[ipaddress.IPv4Network]:
    """The parts of `net` the targets cover (CIDRs either contain one another or are apart)."""
    out = []
    for t in targets:
        if t.subnet_of(net):
            out.append(t)
        elif net.subnet_of(t):
            out.append(net)
    return out


_ARP_FRAME = struct.Struct("!6s6sHHHBBH6s4s6s4s")  # Ethernet II header + ARP for IPv4
_BROADCAST = b"\xff" * 6


def build_request(src_mac: bytes, src_ip: str, target_ip: str) -> bytes:
    """One broadcast ARP who-has frame (42 bytes; the driver pads it to the minimum)."""
    return _ARP_FRAME.pack(
        _BROADCAST, src_mac, 0x0806, 1, 0x0800, 6, 4, 1,
        src_mac, socket.inet_aton(src_ip), bytes(6), socket.inet_aton(target_ip),
    )  # fmt: skip


def parse_reply(frame: bytes) -> tuple[str, str] | None:
    """(sender ip, sender MAC) of an Ethernet ARP reply; None for anything else."""
    if len(frame) < _ARP_FRAME.size:
        return None
    _, _, ethertype, htype, ptype, hlen, plen, op, sha, spa, _, _ = _ARP_FRAME.unpack_from(frame)
    if (ethertype, htype, ptype, hlen, plen, op) != (0x0806, 1, 0x0800, 6, 4, 2):
        return None
    return socket.inet_ntoa(spa), ":".join(f"{b:02x}" for b in sha)


class _Sweep:
    """One raw AF_PACKET socket on the interface: send who-has frames at the scan's rate and
    hand every reply to `on_reply` as it arrives (hosts start their probes at once).

    Replies are handled in the socket's reader callback, a whole batch per event-loop turn:
    when the loop is busy with hundreds of host probes a turn takes milliseconds, and taking
    one reply per turn made a /21 sweep last seconds."""

    def __init__(self, interface: str, on_reply: Callable[[str, str], None]) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        try:
            self.sock.bind((interface, 0))
            self.sock.setblocking(False)
            # A /21 answers within a fraction of a second while hundreds of host probes keep
            # the loop busy: the default buffer (about 250 frames) dropped replies.
            set_rcvbuf(self.sock)
            self.mac: bytes = self.sock.getsockname()[4][:6]
        except BaseException:
            self.sock.close()
            raise
        self.on_reply = on_reply
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(1024):
            try:
                frame = self.sock.recv(2048)
            except OSError:  # BlockingIOError: drained
                return
            reply = parse_reply(frame)
            if reply is not None:
                self.on_reply(*reply)

    async def send(self, ctx: ScanContext, src_ip: str, targets: list[str]) -> None:
        # Every frame of the pass books its turn under the rate cap at once, ahead of the port
        # sweeps its own replies set off: hosts are found in the first fraction of a second
        # (0.4 s for a /21 at 5,000/s) instead of trickling in between their sweeps' connects.
        await asyncio.gather(*(self._send_one(ctx, src_ip, ip) for ip in targets))

    async def _send_one(self, ctx: ScanContext, src_ip: str, ip: str) -> None:
        await ctx.limiter.pace()
        with contextlib.suppress(BlockingIOError):  # a full queue: the next pass asks again
            self.sock.send(build_request(self.mac, src_ip, ip))

    def close(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


class ArpModule(BroadcastModule):
    name = "arp"
    needs_raw_socket = True

    def __init__(self, max_targets: int = MAX_TARGETS) -> None:
        self.max_targets = max_targets

    async def run(self, ctx: ScanContext) -> None:
        if not ctx.interface or not ctx.local_ip:
            ctx.warn(self.name, "skipped: no scan interface")
            return
        targets, cut = arp_targets(ctx, self.max_targets)
        if not targets:
            if not ctx.segments:
                ctx.warn(self.name, "skipped: no target on the scan interface's subnet")
            return  # nothing on the segment to ask about: not a frame sent
        if cut:
            ctx.warn(self.name, f"only the first {self.max_targets} in-scope addresses swept")
        replies = _Replies(ctx, self.name, set(targets))
        try:
            sweep = _Sweep(ctx.interface, replies)
        except PermissionError:
            ctx.warn(self.name, "skipped: raw sockets need root or CAP_NET_RAW")
            return
        except OSError as exc:
            ctx.warn(self.name, f"skipped: {ctx.interface}: {exc.strerror or exc}")
            return
        try:
            await self._passes(ctx, sweep, replies, targets)
        finally:
            sweep.close()

    async def _passes(
        self, ctx: ScanContext, sweep: _Sweep, replies: _Replies, targets: list[str]
    ) -> None:
        # A live host on the segment answers within milliseconds, but a segment swamped by
        # the sweep (one kernel handing every broadcast to a thousand devices, a switch that
        # rate-limits ARP, Wi-Fi stations waking up) can take seconds. A pass is over when
        # replies stop coming; only then are the silent asked again, and the socket listens
        # to the end of the listen window, so a late reply still finds its host.
        loop = asyncio.get_running_loop()
        wait = min(PASS_WAIT, max(0.2, ctx.settings.listen_window / 2))
        start = loop.time()
        # the module budget cuts the module off; stop listening a little before it does
        hard_stop = start + max(ctx.settings.listen_window, 0.8 * ctx.settings.module_budget)
        pending = targets
        for _ in range(PASSES):
            if not pending:
                break
            await sweep.send(ctx, ctx.local_ip or "", pending)
            await replies.settle(wait, QUIET, hard_stop)
            pending = [ip for ip in pending if ip not in replies.found]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, start + ctx.settings.listen_window - loop.time())):
                await replies.all_found.wait()


class _Replies:
    """Turns replies into `mac` evidence: once per address asked about, nothing else."""

    def __init__(self, ctx: ScanContext, module: str, wanted: set[str]) -> None:
        self.ctx = ctx
        self.module = module
        self.wanted = wanted
        self.found: set[str] = set()
        self.all_found = asyncio.Event()
        self.news = asyncio.Event()  # set by every new reply
        if not wanted:
            self.all_found.set()

    async def settle(self, at_least: float, quiet: float, deadline: float) -> None:
        """Wait `at_least` seconds, then on while new replies keep arriving (a gap of `quiet`
        seconds ends it), never past `deadline` (loop time), and not at all once all answered."""
        loop = asyncio.get_running_loop()
        end = min(deadline, loop.time() + at_least)
        while not self.all_found.is_set():
            left = end - loop.time()
            if left <= 0:
                if not self.news.is_set():
                    return
                end = min(deadline, loop.time() + quiet)
                if end <= loop.time():
                    return
                left = end - loop.time()
            self.news.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self.all_found.wait()

    def __call__(self, ip: str, mac: str) -> None:
        if ip not in self.wanted or ip in self.found:
            return  # an answer for an address we did not ask about, or a repeat
        try:
            ev = arp_evidence(ip, mac, module=self.module)
        except ParseError:
            self.ctx.warn(self.module, f"{ip}: ARP reply with a bad MAC")
            return
        self.found.add(ip)
        self.news.set()
        self.ctx.emit(ev)  # emit() also marks the host live (ctx.host_seen)
        if len(self.found) == len(self.wanted):
            self.all_found.set()
