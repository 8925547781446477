"""TCP connect sweep of one host: which camera-typical ports are open.

A plain connect, closed at once, no payload. The sweep of one host holds one slot of the scan's
concurrency limit, and every port is tried at the same time (each connect paced by the rate
cap), so refused ports cost nothing and a silent host costs one connect timeout, not one per
port (two for a host known to be live, see scan_ports).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable, Iterable

from camscan.discovery.base import HostModule, ScanContext
from camscan.model import Evidence

# Errors that just mean "not open" (nothing listening, host or route gone).
_CLOSED_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
     errno.EHOSTDOWN, errno.ETIMEDOUT, errno.ECONNABORTED}
)  # fmt: skip
# Of those, the ones that mean nobody answered: on a local segment, the kernel's ARP for the
# host went unanswered. For a host known to be live (a busy device, a full neighbour table),
# that is a sweep to try again, like one that timed out.
_NO_ANSWER_ERRNOS = frozenset({errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.EHOSTDOWN})


MAX_SOCKETS_PER_HOST = 32


class PortsModule(HostModule):
    name = "ports"
    ports = None

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        await scan_ports(ctx, ip)


async def scan_ports(
    ctx: ScanContext,
    ip: str,
    ports: Iterable[int] | None = None,
    *,
    retry_silent: Callable[[], bool] | None = None,
) -> set[int]:
    """Connect to every port at once; emit `open_port` evidence ("PORT/tcp") for the open ones.

    When no port answered at all (neither a connection nor a refusal) and `retry_silent()`
    says the host is live (it answered ARP or a discovery inquiry), every port is tried a
    second time: the first SYNs to a host wait for the kernel's own ARP resolution, and when
    that is slow (a busy segment, a device waking up) all of them time out together. An
    address nobody has seen is not asked twice (off-link sweeps of empty space stay cheap),
    nor is a host that refused even one port (its silent ports are filtered)."""
    wanted = list(dict.fromkeys(ctx.settings.ports if ports is None else ports))
    per_host = asyncio.Semaphore(MAX_SOCKETS_PER_HOST)
    try:
        async with ctx.limiter.slot():
            results = await _round(ctx, ip, wanted, per_host)
            silent = wanted and all(r is None for r in results)
            if silent and retry_silent is not None and retry_silent():
                results = await _round(ctx, ip, wanted, per_host)
    except Exception as exc:  # never raise out of a module
        ctx.warn(PortsModule.name, f"{ip}: {type(exc).__name__}")
        return set()
    found = {p for p, is_open in zip(wanted, results, strict=True) if is_open}
    for port in sorted(found):
        ctx.emit(
            Evidence(
                module=PortsModule.name,
                protocol="open_port",
                value=f"{port}/tcp",
                ip=ip,
                port=port,
                transport="tcp",
            )
        )
    return found


async def _round(
    ctx: ScanContext, ip: str, ports: list[int], per_host: asyncio.Semaphore
) -> list[bool | None]:
    return await asyncio.gather(*(_is_open(ctx, ip, p, per_host) for p in ports))


async def _is_open(
    ctx: ScanContext, ip: str, port: int, per_host: asyncio.Semaphore
) -> bool | None:
    """True: connected. False: refused, or no route. None: no answer (in time, or to ARP)."""
    async with per_host:
        await ctx.limiter.pace()
        sock: socket.socket | None = None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            async with asyncio.timeout(ctx.settings.connect_timeout):
                await asyncio.get_running_loop().sock_connect(sock, (ip, port))
            return True
        except TimeoutError:
            return None
        except OSError as exc:
            if exc.errno in _NO_ANSWER_ERRNOS:
                return None
            if exc.errno == errno.ECONNRESET:
                return True  # the handshake completed, then the host reset: something listens
            if exc.errno not in _CLOSED_ERRNOS:
                ctx.warn(PortsModule.name, f"{ip}:{port} {exc.strerror or type(exc).__name__}")
            return False
        finally:
            if sock is not None:
                sock.close()
