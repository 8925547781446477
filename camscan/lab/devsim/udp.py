"""UDP sockets of one persona and protocol: a unicast socket bound to (persona ip, port),
which also sends every reply (so replies come from the device's own address and port), and —
in the lab — a receive socket for multicast and broadcast pinned to the persona's interface
(SO_BINDTODEVICE, IP_MULTICAST_ALL=0, groups joined on that ifindex only)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Sequence

from camscan.lab.devsim.context import SimContext

IP_MULTICAST_ALL = 49  # linux/in.h; not exported by the socket module
MAX_DATAGRAM = 65535

Send = Callable[[bytes, tuple[str, int]], None]
Handler = Callable[[bytes, tuple[str, int], Send], None]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, ctx: SimContext, label: str, handler: Handler, send: Send) -> None:
        self.ctx, self.label, self.handler, self.send = ctx, label, handler, send

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.handler(data, addr, self.send)
        except Exception as exc:  # a hostile packet must never stop the simulator
            self.ctx.warn_once(f"udp:{self.label}:{type(exc).__name__}", f"{self.label}: {exc!r}")

    def error_received(self, exc: Exception) -> None:
        self.ctx.warn_once(f"udp-err:{self.label}", f"{self.label}: {exc!r}")


def bind_unicast(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 0)
    sock.bind((ip, port))
    sock.setblocking(False)
    return sock


def bind_group(port: int, ifname: str, ifindex: int, groups: Sequence[str]) -> socket.socket:
    """Receives broadcasts and the given multicast groups arriving on `ifname` only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    sock.bind(("0.0.0.0", port))
    for group in groups:
        mreqn = struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), ifindex)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    sock.setblocking(False)
    return sock


class _Sender:
    """Sends replies from the persona's unicast socket, whichever socket got the request."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def __call__(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


async def open_udp(
    ctx: SimContext,
    ip: str,
    port: int,
    groups: Sequence[str],
    handler: Handler,
    label: str,
) -> list[asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    sender = _Sender()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Receiver(ctx, label, handler, sender), sock=bind_unicast(ip, port)
    )
    sender.transport = transport
    transports: list[asyncio.BaseTransport] = [transport]
    iface = ctx.ifaces.get(ip)
    if ctx.multicast and iface is not None:
        gt, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(ctx, label, handler, sender),
            sock=bind_group(port, iface.name, iface.index, groups),
        )
        transports.append(gt)
    return transports
