"""The liveness pass: which addresses of a large or off-link range answer at all.

Sweeping every camera port of every address of a /16 is 1.4 million connects. Most of those
addresses are empty, so the scan first asks each address a few cheap questions and sends the
full port sweep and the host modules only to the ones that answer:

* a TCP connect to a few camera-likely ports (`LIVENESS_PORTS`), one port per stage: the next
  port is tried only when the previous one stayed silent. A connection, a refusal or a reset
  means something is there (alive). An unreachable (EHOSTUNREACH/ENETUNREACH: a router's
  ICMP, or the scanner's own ARP failing) means nothing is (dead);
* where the process may open raw sockets, an ICMP echo with the first stage: a reply is alive,
  an ICMP destination unreachable about the address is dead.

Silence is waited for with a timeout that adapts to what the network answers (AdaptiveTimeout:
the round-trip times of the answers seen so far, as TCP does), so a quiet range costs a few
tenths of a second per stage instead of the full connect timeout. Every packet is paced by the
scan's `--rate`. An address the scanner could not even send to (no route of its own, a local
firewall, no buffers) is *uncovered*: the scan is then incomplete, and says so.

Connects here are bare non-blocking sockets watched by the event loop (no task, no future per
connect): about four times cheaper than `loop.sock_connect`, which matters at 250,000 probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from camscan.discovery.base import ScanContext

#: Asked in this order, one per stage; refused counts as alive, so any port finds a host with
#: an ordinary stack, and these are the likeliest to be *open* on a camera that drops the rest.
LIVENESS_PORTS: tuple[int, ...] = (80, 443, 554)

ALIVE, DEAD, SILENT, UNCOVERED = "alive", "dead", "silent", "uncovered"

_ALIVE_ERRNOS = frozenset({0, errno.ECONNREFUSED, errno.ECONNRESET})
_DEAD_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENONET})
# Failing at once, before anything was sent: the scanner's own resources. Tried again later.
_AGAIN_ERRNOS = frozenset(
    {errno.ENOBUFS, errno.EAGAIN, errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOMEM}
)
_RESOURCE_RETRIES = 5
_RESOURCE_BACKOFF = 0.05  # s before an address whose send failed for want of resources is retried
_ICMP_ECHO_REPLY, _ICMP_UNREACH, _ICMP_ECHO = 0, 3, 8


class AdaptiveTimeout:
    """How long to wait for an answer: TCP's retransmission timeout (RFC 6298) over the
    round-trip times of the answers seen so far, within [floor, ceiling].

    Before any answer it is `initial` (the scan's connect timeout). Each answer (a connection,
    a refusal, an echo reply) is one sample: srtt and rttvar follow it, and the timeout is
    srtt + 4·rttvar, so a LAN that answers in a millisecond is waited for `floor` seconds, a
    slow WAN for longer, and a network whose answers slow down gets a longer wait again."""

    def __init__(self, initial: float = 1.0, floor: float = 0.25, ceiling: float = 3.0) -> None:
        self.initial = initial
        self.floor = min(floor, initial)
        self.ceiling = max(ceiling, initial)
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0

    def observe(self, rtt: float) -> None:
        rtt = max(0.0, rtt)
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.samples += 1

    @property
    def value(self) -> float:
        if self.srtt is None:
            return self.initial
        return min(self.ceiling, max(self.floor, self.srtt + 4 * self.rttvar))


@dataclass(slots=True)
class LivenessStats:
    """What the pass found, for progress and for the scan's honest end."""

    addresses: int = 0  # addresses given to the pass
    resolved: int = 0  # addresses with a verdict (alive, dead, silent or uncovered)
    alive: int = 0
    dead: int = 0
    silent: int = 0  # no answer to any probe within the timeout
    uncovered: int = 0  # could not be probed at all (see the module docstring)
    packets: int = 0


def icmp_echo(ident: int, seq: int) -> bytes:
    """An ICMP echo request with a valid checksum and an 8-byte payload."""
    header = struct.pack("!BBHHH", _ICMP_ECHO, 0, 0, ident, seq)
    payload = b"camscan\x00"
    return struct.pack("!BBHHH", _ICMP_ECHO, 0, _checksum(header + payload), ident, seq) + payload


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def parse_icmp(packet: bytes, ident: int) -> tuple[str, str] | None:
    """A raw IPv4+ICMP packet -> (address, ALIVE|DEAD) about one probed address, or None.

    An echo reply with our identifier: its source is alive. A destination unreachable: about
    the inner packet's destination; when the address itself sent it (port unreachable) it is
    alive, when a router did (network/host unreachable, prohibited) it is dead."""
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return None
    kind = packet[ihl]
    src = socket.inet_ntoa(packet[12:16])
    if kind == _ICMP_ECHO_REPLY:
        (got,) = struct.unpack("!H", packet[ihl + 4 : ihl + 6])
        return (src, ALIVE) if got == ident else None
    if kind == _ICMP_UNREACH:
        inner = packet[ihl + 8 :]
        if len(inner) < 20:
            return None
        dst = socket.inet_ntoa(inner[16:20])
        return (dst, ALIVE if src == dst else DEAD)
    return None


def open_icmp_socket() -> socket.socket | None:
    """A raw ICMP socket when this process may open one (root or CAP_NET_RAW), else None."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except (PermissionError, OSError):
        return None
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return sock


class LivenessPass:
    """One pass over `addresses`; `on_alive(ip)` is called once per live address, as soon as
    it is known, so its full sweep starts while the pass goes on. `room()` is awaited before
    each fresh address: the engine holds the pass back while live hosts wait for their turn."""

    def __init__(
        self,
        ctx: ScanContext,
        addresses: Iterable[str],
        total: int,
        *,
        on_alive: Callable[[str], None],
        room: Callable[[], Awaitable[None]] | None = None,
        ports: tuple[int, ...] = LIVENESS_PORTS,
        icmp: socket.socket | None = None,
        timeout: AdaptiveTimeout | None = None,
        max_in_flight: int = 4096,
        senders: int = 64,
    ) -> None:
        if not ports:
            raise ValueError("the liveness pass needs at least one port")
        self.ctx = ctx
        self._fresh: Iterator[str] = iter(addresses)
        self._fresh_done = False
        self.stats = LivenessStats(addresses=total)
        self.on_alive = on_alive
        self.room = room
        self.ports = ports
        self.icmp = icmp
        self.timeout = timeout or AdaptiveTimeout(initial=ctx.settings.connect_timeout)
        self.max_in_flight = max(1, max_in_flight)
        self.senders = max(1, senders)
        self._ident = os.getpid() & 0xFFFF
        self._seq = 0
        self._stage: dict[str, int] = {}  # address -> stage in progress (not yet resolved)
        self._alive: set[str] = set()
        self._late_ok: set[str] = set()  # silent with an echo asked: a late reply still counts
        self._again: deque[tuple[str, int, int]] = deque()  # (ip, stage, resource retries)
        self._probes = 0  # TCP probes in flight
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handles: dict[int, tuple[socket.socket, asyncio.TimerHandle]] = {}
        self.started = 0.0
        self.warned: set[int] = set()

    # -- running ------------------------------------------------------------------------
    async def run(self) -> LivenessStats:
        self._loop = asyncio.get_running_loop()
        self.started = time.monotonic()
        if self.icmp is not None:
            self._loop.add_reader(self.icmp.fileno(), self._on_icmp)
        workers = [asyncio.create_task(self._sender()) for _ in range(self.senders)]
        try:
            await self._done.wait()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for fd in list(self._handles):
                self._finish_probe(fd)
            if self.icmp is not None:
                self._loop.remove_reader(self.icmp.fileno())
                self.icmp.close()
            # Cut short (Ctrl-C, a cancelled scan): whatever was not resolved was not covered.
            for ip in list(self._stage):
                self._resolve(ip, UNCOVERED)
            self._check_done()
        return self.stats

    def eta(self) -> float | None:
        """Seconds left, from the pace so far; None until there is a pace to go by."""
        s = self.stats
        elapsed = time.monotonic() - self.started
        if not s.resolved or elapsed < 1.0 or s.resolved >= s.addresses:
            return None
        return elapsed * (s.addresses - s.resolved) / s.resolved

    def _next_work(self) -> tuple[str, int, int] | None:
        if self._again:
            return self._again.popleft()
        return None

    async def _sender(self) -> None:
        while True:
            work = self._next_work()
            if work is None:
                if self._fresh_done:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if self.room is not None:
                    await self.room()
                    work = self._next_work()  # an answer may have queued a next stage
                if work is None:
                    try:
                        ip = next(self._fresh)
                    except StopIteration:
                        self._fresh_done = True
                        self._check_done()
                        continue
                    self._stage[ip] = 0
                    work = (ip, 0, 0)
            await self._send(*work)

    async def _send(self, ip: str, stage: int, retries: int) -> None:
        await self._slots.acquire()
        if self._stage.get(ip) != stage:  # resolved meanwhile (an echo reply, an unreachable)
            self._slots.release()
            self._check_done()
            return
        if stage == 0 and retries == 0 and self.icmp is not None:
            await self.ctx.limiter.pace()
            self._send_echo(ip)
        await self.ctx.limiter.pace()
        if self._stage.get(ip) != stage:
            self._slots.release()
            self._check_done()
            return
        self._connect(ip, stage, retries)

    def _send_echo(self, ip: str) -> None:
        assert self.icmp is not None
        self._seq = (self._seq + 1) & 0xFFFF
        try:
            self.icmp.sendto(icmp_echo(self._ident, self._seq), (ip, 0))
            self.stats.packets += 1
        except OSError:
            pass  # the TCP probe of the same stage still asks

    def _connect(self, ip: str, stage: int, retries: int) -> None:
        assert self._loop is not None
        port = self.ports[stage]
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        except OSError as exc:
            self._slots.release()
            self._immediate(ip, stage, retries, exc.errno or 0)
            self._check_done()
            return
        err = sock.connect_ex((ip, port))
        self.stats.packets += 1
        if err != errno.EINPROGRESS:
            sock.close()
            self._slots.release()
            self._immediate(ip, stage, retries, err)
            self._check_done()
            return
        fd = sock.fileno()
        sent = time.monotonic()
        timer = self._loop.call_later(self.timeout.value, self._timed_out, fd, ip, stage)
        self._handles[fd] = (sock, timer)
        self._probes += 1
        self._loop.add_writer(fd, self._answered, fd, ip, stage, sent)

    def _immediate(self, ip: str, stage: int, retries: int, err: int) -> None:
        """connect() failed before anything went out (or, on loopback, answered at once)."""
        if err in _ALIVE_ERRNOS:
            self._verdict(ip, stage, ALIVE)
        elif err == errno.EHOSTUNREACH:
            self._verdict(ip, stage, DEAD)  # the kernel already knows: a failed neighbour
        elif err in _AGAIN_ERRNOS and retries < _RESOURCE_RETRIES:
            assert self._loop is not None
            self._loop.call_later(
                _RESOURCE_BACKOFF * (retries + 1), self._requeue, ip, stage, retries + 1
            )
        else:
            if err not in self.warned:
                self.warned.add(err)
                self.ctx.warn("liveness", f"{ip}: {os.strerror(err)}; not probed")
            self._verdict(ip, stage, UNCOVERED)

    def _requeue(self, ip: str, stage: int, retries: int) -> None:
        if self._stage.get(ip) == stage:
            self._again.append((ip, stage, retries))
            self._wake.set()

    def _finish_probe(self, fd: int) -> socket.socket | None:
        entry = self._handles.pop(fd, None)
        if entry is None:
            return None
        sock, timer = entry
        timer.cancel()
        assert self._loop is not None
        self._loop.remove_writer(fd)
        self._probes -= 1
        self._slots.release()
        return sock

    def _answered(self, fd: int, ip: str, stage: int, sent: float) -> None:
        sock = self._finish_probe(fd)
        if sock is None:
            return
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        sock.close()
        if err in _ALIVE_ERRNOS:
            self.timeout.observe(time.monotonic() - sent)
            self._verdict(ip, stage, ALIVE)
        elif err in _DEAD_ERRNOS:
            self._verdict(ip, stage, DEAD)
        else:
            self._verdict(ip, stage, SILENT)
        self._check_done()

    def _timed_out(self, fd: int, ip: str, stage: int) -> None:
        sock = self._finish_probe(fd)
        if sock is None:
            return
        sock.close()
        self._verdict(ip, stage, SILENT)
        self._check_done()

    def _on_icmp(self) -> None:
        assert self.icmp is not None
        for _ in range(256):
            try:
                packet = self.icmp.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            found = parse_icmp(packet, self._ident)
            if found is None:
                continue
            ip, verdict = found
            stage = self._stage.get(ip)
            if stage is not None:
                self._verdict(ip, stage, verdict)
            elif verdict == ALIVE and ip not in self._alive and self.ctx.in_scope(ip):
                # A late echo reply about an address already given up as silent.
                if self._counted_silent(ip):
                    self._alive.add(ip)
                    self.on_alive(ip)
        self._check_done()

    def _counted_silent(self, ip: str) -> bool:
        # Only addresses this pass asked about; in_scope alone would accept any reply.
        if ip in self._late_ok:
            self._late_ok.discard(ip)
            self.stats.silent -= 1
            self.stats.alive += 1
            return True
        return False

    def _verdict(self, ip: str, stage: int, verdict: str) -> None:
        if self._stage.get(ip) != stage:
            return
        if verdict == SILENT and stage + 1 < len(self.ports):
            self._stage[ip] = stage + 1
            self._again.append((ip, stage + 1, 0))
            self._wake.set()
            return
        self._resolve(ip, verdict)

    def _resolve(self, ip: str, verdict: str) -> None:
        if self._stage.pop(ip, None) is None:
            return
        s = self.stats
        s.resolved += 1
        if verdict == ALIVE:
            s.alive += 1
            self._alive.add(ip)
            self.on_alive(ip)
        elif verdict == DEAD:
            s.dead += 1
        elif verdict == SILENT:
            s.silent += 1
            if self.icmp is not None and len(self._late_ok) < 65536:
                self._late_ok.add(ip)
        else:
            s.uncovered += 1

    def _check_done(self) -> None:
        if self._fresh_done and not self._stage and not self._again and not self._probes:
            self._done.set()
            self._wake.set()
