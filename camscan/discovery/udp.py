"""UDP plumbing shared by the broadcast discovery modules.

One call, `send_and_collect`, opens the sockets an inquiry needs, sends the inquiry out of the
scan interface (unicast probes paced by the scan's rate cap), and keeps what comes back for a
bounded window. The socket options are the ones the lab showed are needed (lab-recipe.md):

* SO_RCVBUF 4 MiB: a burst of a few hundred answers overflows the default buffer;
* IP_MULTICAST_IF = the scan address: without it a multicast probe leaves by the default route;
* IP_MULTICAST_TTL 1 and no multicast loop: inquiries stay on the segment and we do not hear
  ourselves;
* SO_BINDTODEVICE when an interface is named (needs privileges; skipped without them).

Some devices answer to the protocol's well-known port or multicast group instead of to the
sender's port, so a module may ask for extra listening sockets (`Listener`).

Nothing outside the targets (segments.py): a multicast or broadcast datagram goes out only
when an attached subnet holds a target, and answers from addresses outside the targets are
dropped unread and counted for the scan's warning (ScanContext.outside_warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from camscan.discovery.base import ScanContext
from camscan.discovery.segments import directed_broadcasts, may_send

RCVBUF = 4 << 20
IP_MULTICAST_ALL = 49  # Linux: deliver only the groups this socket joined
SO_RCVBUFFORCE = 33  # Linux: root may exceed net.core.rmem_max


class Datagram(NamedTuple):
    data: bytes
    addr: tuple[str, int]
    at: float  # time.time() when it arrived


@dataclass(frozen=True, slots=True)
class Listener:
    """An extra socket bound to a fixed port (shared with SO_REUSEADDR), optionally joined to
    a multicast group on the scan interface."""

    port: int
    group: str | None = None


def broadcast_addresses(ctx: ScanContext) -> list[str]:
    """Directed-broadcast addresses of the inquiry segments (attached subnets that hold a
    target, segments.py) that hold the scan address. Only those: a directed broadcast to any
    other subnet would be handed to the default gateway."""
    return directed_broadcasts(ctx.segments, ctx.local_ip)


def open_socket(
    ctx: ScanContext,
    *,
    port: int = 0,
    broadcast: bool = False,
    reuse: bool = False,
    group: str | None = None,
) -> socket.socket:
    """A non-blocking UDP socket set up for one scan inquiry (see the module docstring).
    Raises OSError only when the socket cannot be bound or the group cannot be joined."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        set_rcvbuf(sock)
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        if ctx.local_ip:
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ctx.local_ip)
                )
        if ctx.interface:
            with contextlib.suppress(OSError, AttributeError):  # needs CAP_NET_RAW
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ctx.interface.encode() + b"\0"
                )
        if group:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.bind(("0.0.0.0", port))
        if group:
            iface = socket.inet_aton(ctx.local_ip or "0.0.0.0")
            mreq = struct.pack("4s4s", socket.inet_aton(group), iface)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    except BaseException:
        sock.close()
        raise
    return sock


def set_rcvbuf(sock: socket.socket) -> None:
    """A receive buffer that holds a burst of answers while the event loop is busy."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    # Linux reports twice the size it granted; below what we asked, it was capped by rmem_max.
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < RCVBUF:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)


@dataclass(slots=True)
class _Collector:
    max_datagrams: int
    stop_after: int | None
    on_datagram: Callable[[Datagram], None] | None
    own: set[bytes]
    # True for an address whose answers count (in scope); others are only reported
    in_scope: Callable[[str], bool] = lambda _ip: True
    on_outside: Callable[[str], None] | None = None
    datagrams: list[Datagram] = field(default_factory=list)
    dropped: int = 0
    errors: list[OSError] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _seen: set[tuple[bytes, tuple[str, int]]] = field(default_factory=set)

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data in self.own:  # our own inquiry, looped back by a broadcast
            return
        if not self.in_scope(addr[0]):
            # excluded or not a target, yet it heard the inquiry: dropped unread, and the
            # scan says who (ScanContext.outside_warning)
            if self.on_outside is not None:
                self.on_outside(addr[0])
            return
        key = (hashlib.blake2b(data, digest_size=16).digest(), addr[:2])
        if key in self._seen:
            return
        if len(self.datagrams) >= self.max_datagrams:
            self.dropped += 1
            self.done.set()
            return
        self._seen.add(key)
        dgram = Datagram(data, (addr[0], addr[1]), time.time())
        self.datagrams.append(dgram)
        if self.on_datagram:
            self.on_datagram(dgram)
        if self.stop_after is not None and len(self.datagrams) >= self.stop_after:
            self.done.set()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, collector: _Collector) -> None:
        self.collector = collector

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.collector.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and len(self.collector.errors) < 16:
            self.collector.errors.append(exc)


async def send_and_collect(
    ctx: ScanContext,
    payloads: Sequence[tuple[bytes, tuple[str, int]]],
    listen: float,
    max_datagrams: int,
    *,
    module: str = "udp",
    broadcast: bool = False,
    bind_port: int = 0,
    listeners: Sequence[Listener] = (),
    spacing: float = 0.0,
    stop_after: int | None = None,
    on_datagram: Callable[[Datagram], None] | None = None,
) -> list[Datagram]:
    """Send each payload to its (host, port) and keep answers for `listen` seconds from the
    first send (and at least `listen / 2` after the last one, for widely spaced repeats).

    Answers are de-duplicated (same bytes from the same address), our own inquiries heard back
    are dropped, and at most `max_datagrams` are kept. `stop_after` ends the window early once
    that many answers are in (unicast probes of one host). `on_datagram` sees each kept answer
    as it arrives. Problems (a port in use, an unreachable destination) become ctx warnings;
    nothing here raises for network conditions."""
    loop = asyncio.get_running_loop()
    payloads, listeners = _on_segments_only(ctx, module, payloads, listeners)
    if not payloads:
        return []
    collector = _Collector(
        max(1, max_datagrams),
        stop_after,
        on_datagram,
        own={p for p, _ in payloads},
        in_scope=ctx.in_scope,
        on_outside=lambda ip: ctx.heard_outside(module, ip),
    )
    transports: list[asyncio.DatagramTransport] = []
    try:
        main = _open_main(ctx, module, bind_port, broadcast)
        if main is None:
            return []
        transport = await _endpoint(loop, collector, main)
        transports.append(transport)
        for lst in listeners:
            try:
                extra = open_socket(ctx, port=lst.port, reuse=True, group=lst.group)
            except OSError as exc:
                where = f"{lst.group or '0.0.0.0'}:{lst.port}"
                ctx.warn(module, f"cannot listen on {where} ({exc.strerror or exc}); "
                         "answers sent there will be missed")  # fmt: skip
                continue
            transports.append(await _endpoint(loop, collector, extra))
        first = loop.time()
        await _send_all(ctx, module, main, transport, payloads, spacing)
        listen = max(0.0, listen)
        deadline = max(first + listen, loop.time() + listen / 2)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await collector.done.wait()
    finally:
        for t in transports:
            t.close()
    for exc in collector.errors:
        ctx.warn(module, f"socket error: {exc.strerror or exc}")
    if collector.dropped:
        ctx.warn(module, f"kept the first {collector.max_datagrams} answers, ignored the rest")
    return collector.datagrams


def _on_segments_only(
    ctx: ScanContext,
    module: str,
    payloads: Sequence[tuple[bytes, tuple[str, int]]],
    listeners: Sequence[Listener],
) -> tuple[list[tuple[bytes, tuple[str, int]]], list[Listener]]:
    """Drop the multicast and broadcast datagrams no segment may hear (no target there,
    segments.py), and the group listeners with them: a scan of off-link targets sends
    nothing segment-wide and joins no group."""
    kept = [(d, a) for d, a in payloads if may_send(a[0], ctx.segments, ctx.attached)]
    if len(kept) < len(payloads):
        ctx.warn(module, "no target on the scan segment: multicast and broadcast inquiry "
                 "not sent")  # fmt: skip
    if not ctx.segments:
        listeners = [lst for lst in listeners if lst.group is None]
    return kept, list(listeners)


async def _endpoint(
    loop: asyncio.AbstractEventLoop, collector: _Collector, sock: socket.socket
) -> asyncio.DatagramTransport:
    try:
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(collector), sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport


def _open_main(
    ctx: ScanContext, module: str, bind_port: int, broadcast: bool
) -> socket.socket | None:
    try:
        return open_socket(ctx, port=bind_port, broadcast=broadcast, reuse=bind_port != 0)
    except OSError as exc:
        if not bind_port:
            ctx.warn(module, f"cannot open a UDP socket ({exc.strerror or exc})")
            return None
        ctx.warn(module, f"cannot bind UDP port {bind_port} ({exc.strerror or exc}); "
                 "sending from an ephemeral port")  # fmt: skip
    try:
        return open_socket(ctx, broadcast=broadcast)
    except OSError as exc:
        ctx.warn(module, f"cannot open a UDP socket ({exc.strerror or exc})")
        return None


async def _send_all(
    ctx: ScanContext,
    module: str,
    sock: socket.socket,
    transport: asyncio.DatagramTransport,
    payloads: Sequence[tuple[bytes, tuple[str, int]]],
    spacing: float,
) -> None:
    directed = set(broadcast_addresses(ctx))
    for i, (data, addr) in enumerate(payloads):
        if i and spacing > 0:
            await asyncio.sleep(spacing)
        # A unicast datagram is a probe of one host and waits for the rate cap. A multicast or
        # broadcast inquiry is one datagram for the whole segment: it is not queued behind
        # thousands of host probes (at 1,000 hosts that delayed WS-Discovery by 8 s). Nothing
        # holds a concurrency slot: a datagram is sent at once, nothing stays in flight.
        if not (addr[0] in directed or _is_group(addr[0])):
            await ctx.limiter.pace()
        try:
            sock.sendto(data, addr)
        except BlockingIOError:
            transport.sendto(data, addr)  # asyncio buffers it until writable
        except OSError as exc:
            ctx.warn(module, f"cannot send to {addr[0]}:{addr[1]} ({exc.strerror or exc})")


def _is_group(host: str) -> bool:
    """True for a multicast group or the limited broadcast address."""
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return addr.is_multicast or addr == ipaddress.IPv4Address("255.255.255.255")
