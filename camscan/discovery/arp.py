"""ARP who-has sweep of the in-scope addresses on the scan interface's own subnets: every
live host on the segment answers with its MAC (the vendor's OUI), even with every TCP port
closed. Needs a raw socket (root or CAP_NET_RAW); without one the module says so and stops.

Replies get lost now and then, so addresses that stayed silent are asked a second time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
import time

from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.errors import ParseError
from camscan.model import Evidence

MAX_TARGETS = 4096  # addresses swept at most (a /20)
PASSES = 2
PASS_WAIT = 0.6  # seconds to wait for late replies after each pass
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
    """In-scope addresses of the attached subnets (ours excluded); True when cut at `limit`."""
    out: list[str] = []
    seen: set[str] = set()
    for net in ctx.attached:
        for host in net.hosts():
            ip = str(host)
            if ip == ctx.local_ip or ip in seen or not ctx.in_scope(ip):
                continue
            if len(out) >= limit:
                return out, True
            seen.add(ip)
            out.append(ip)
    return out, False


def build_request(src_mac: bytes, src_ip: str, target_ip: str) -> bytes:
    """One broadcast ARP who-has frame (scapy builds it)."""
    from scapy.layers.l2 import ARP, Ether

    mac = ":".join(f"{b:02x}" for b in src_mac)
    frame = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=mac, psrc=src_ip, hwdst="00:00:00:00:00:00", pdst=target_ip
    )
    return bytes(frame)


_ARP_REPLY = struct.Struct("!6s6sHHHBBH6s4s6s4s")


def parse_reply(frame: bytes) -> tuple[str, str] | None:
    """(sender ip, sender MAC) of an Ethernet ARP reply; None for anything else."""
    if len(frame) < _ARP_REPLY.size:
        return None
    _, _, ethertype, htype, ptype, hlen, plen, op, sha, spa, _, _ = _ARP_REPLY.unpack_from(frame)
    if (ethertype, htype, ptype, hlen, plen, op) != (0x0806, 1, 0x0800, 6, 4, 2):
        return None
    return socket.inet_ntoa(spa), ":".join(f"{b:02x}" for b in sha)


class _Sweep:
    """One raw AF_PACKET socket on the interface: send who-has frames at the scan's rate and
    hand every reply over as it arrives (hosts start their probes at once)."""

    def __init__(self, interface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        try:
            self.sock.bind((interface, 0))
            self.sock.setblocking(False)
            self.mac: bytes = self.sock.getsockname()[4][:6]
        except BaseException:
            self.sock.close()
            raise
        self.replies: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(256):
            try:
                frame = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            reply = parse_reply(frame)
            if reply is not None:
                self.replies.put_nowait(reply)

    async def send(self, ctx: ScanContext, src_ip: str, targets: list[str]) -> None:
        for ip in targets:
            await ctx.limiter.pace()
            try:
                self.sock.send(build_request(self.mac, src_ip, ip))
            except BlockingIOError:
                await asyncio.sleep(0.001)
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
        if cut:
            ctx.warn(self.name, f"only the first {self.max_targets} in-scope addresses swept")
        try:
            sweep = _Sweep(ctx.interface)
        except PermissionError:
            ctx.warn(self.name, "skipped: raw sockets need root or CAP_NET_RAW")
            return
        except OSError as exc:
            ctx.warn(self.name, f"skipped: {ctx.interface}: {exc.strerror or exc}")
            return
        try:
            await self._passes(ctx, sweep, targets)
        finally:
            sweep.close()

    async def _passes(self, ctx: ScanContext, sweep: _Sweep, targets: list[str]) -> None:
        wanted = set(targets)
        found: set[str] = set()
        # A live host on the segment answers within milliseconds; the wait after each pass
        # only covers slow stacks. Replies get lost now and then, so ask the silent again.
        wait = min(PASS_WAIT, max(0.2, ctx.settings.listen_window / 2))
        pending = targets
        for _ in range(PASSES):
            if not pending:
                break
            sender = asyncio.create_task(sweep.send(ctx, ctx.local_ip or "", pending))
            deadline: float | None = None
            while True:
                if sender.done() and deadline is None:
                    sender.result()
                    deadline = asyncio.get_running_loop().time() + wait
                timeout = 0.05 if deadline is None else deadline - asyncio.get_running_loop().time()
                if timeout <= 0 or len(found) == len(wanted):
                    break
                try:
                    ip, mac = await asyncio.wait_for(sweep.replies.get(), timeout)
                except TimeoutError:
                    continue
                if ip not in wanted or ip in found:
                    continue  # an answer for an address we did not ask about
                try:
                    ev = arp_evidence(ip, mac, module=self.name)
                except ParseError:
                    ctx.warn(self.name, f"{ip}: ARP reply with a bad MAC")
                    continue
                found.add(ip)
                ctx.emit(ev)  # emit() also marks the host live (ctx.host_seen)
            if not sender.done():
                sender.cancel()
            pending = [ip for ip in pending if ip not in found]
