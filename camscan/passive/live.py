"""Live passive capture: one listen-only packet socket on one interface, read through the
same fast path as capture files. It only listens: the socket is scapy's listen-only L2
socket (it refuses to send) and nothing else is opened.

The kernel filter (camscan.passive.bpf) keeps only what passive mode reads on Ethernet-type
interfaces; on others scapy compiles an equivalent pcap expression when libpcap is there,
and otherwise everything is captured and the fast path sorts it out.

The capture runs for `duration` seconds, or until SIGINT/SIGTERM (Ctrl-C) when it runs in the
main thread. Either way, what the kernel had already queued for the socket is read before the
end, so a packet that arrived before the stop is never lost. Frames are read raw (scapy's
recv_raw): scapy's per-packet dissection would cost ~50x the fast path.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from camscan.errors import CaptureError
from camscan.model import Evidence
from camscan.passive import PassiveStats
from camscan.passive.bpf import attach, ethernet_program
from camscan.passive.extract import TCP_PORTS, UDP_PORTS, Extractor
from camscan.passive.fastpath import ETHERNET, FastPath

_BATCH = 512  # packets read before the stop flag and the clock are looked at again
_SNAPLEN = 65535
_DRAIN_BATCHES = 64  # a busy link keeps the queue full: stop reading after this many


def bpf_expression(
    udp_ports: frozenset[int] = UDP_PORTS, tcp_ports: frozenset[int] = TCP_PORTS
) -> str:
    """The kernel filter as a pcap expression (for interfaces that are not Ethernet)."""
    udp = " or ".join(f"port {p}" for p in sorted(udp_ports))
    tcp = " or ".join(f"port {p}" for p in sorted(tcp_ports))
    return (
        f"arp or (udp and ({udp})) or (tcp and ({tcp})) or (tcp and tcp[tcpflags] & tcp-syn != 0)"
        # UDP fragments (reassembled by the fast path), IPv6 neighbour discovery (IPv6's ARP)
        " or (ip proto 17 and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"
        " or (icmp6 and ip6[40] >= 133 and ip6[40] <= 136)"
    )


def _open_socket(interface: str, warn: Callable[[str], None]) -> tuple[Any, int]:
    """scapy's listen-only socket on the interface, filtered; and its link type."""
    import scapy.layers.inet
    import scapy.layers.l2  # noqa: F401 - registers the link types scapy's sockets map to
    from scapy.config import conf
    from scapy.error import Scapy_Exception

    try:
        sock = conf.L2listen(iface=interface)
    except (OSError, ValueError, Scapy_Exception) as exc:
        raise CaptureError(f"{interface}: cannot capture: {exc}") from None
    linktype = conf.l2types.layer2num.get(sock.LL, -1)
    try:
        if linktype == ETHERNET:
            attach(sock.ins, ethernet_program(UDP_PORTS, TCP_PORTS))
        else:
            from scapy.arch.linux import attach_filter

            attach_filter(sock.ins, bpf_expression(), interface)
    except (OSError, ImportError, Scapy_Exception) as exc:
        warn(f"{interface}: no kernel filter ({exc}); reading every packet")
    return sock, linktype


class _Stop:
    """Set by SIGINT/SIGTERM; the signal also writes to a pipe the capture loop selects on,
    so a quiet interface stops at once instead of at the next packet."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.wakeup: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.signal = signum


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals are the main thread's: a library caller stops by duration
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    old_fd = signal.set_wakeup_fd(w)
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop.wakeup = r
    try:
        yield stop
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_fd)
        os.close(r)
        os.close(w)


def _read_ready(sock: Any, limit: int, packet: Callable[[bytes, float], None]) -> int:
    """Read up to `limit` frames that are already queued; the number read."""
    fd = sock.ins.fileno()
    n = 0
    while n < limit and select.select([fd], [], [], 0)[0]:
        _cls, data, ts = sock.recv_raw(_SNAPLEN)
        n += 1
        if data:  # None: our own outgoing frame (there are none) or a socket hiccup
            packet(data, ts or time.time())
    return n


def live_evidence(
    interface: str,
    duration: float | None,
    *,
    stats: PassiveStats | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_started: Callable[[], None] | None = None,
    domains: frozenset[str] | None = None,
) -> list[Evidence]:
    """Listen on `interface` for `duration` seconds (None: until SIGINT/SIGTERM; Ctrl-C also
    ends a timed capture early) and return the evidence heard. `stats.interrupted` tells
    whether a signal ended it. Needs root or CAP_NET_RAW; every failure to capture is a
    CaptureError."""
    st = stats if stats is not None else PassiveStats()

    def warn(message: str) -> None:
        st.warn(message)
        if on_warning is not None:
            on_warning(message)

    sock, linktype = _open_socket(interface, warn)
    extractor = Extractor(warn, source=interface, domains=domains)
    fast = FastPath(extractor, warn)
    evidence: list[Evidence] = []
    number = 0

    def packet(data: bytes, ts: float) -> None:
        nonlocal number
        number += 1
        try:
            fast.feed(number, float(ts), linktype, data)
        except Exception as exc:  # noqa: BLE001 - one odd frame never ends the capture
            warn(f"{interface}: packet {number} could not be read: {type(exc).__name__}")
        if extractor.out:
            evidence.extend(extractor.out)
            extractor.out.clear()

    started = time.perf_counter()
    deadline = None if duration is None else started + duration
    try:
        with _stop_on_signals() as stop:
            if on_started is not None:
                on_started()
            fds = [sock.ins.fileno()] + ([stop.wakeup] if stop.wakeup is not None else [])
            while stop.signal is None:
                left = None if deadline is None else deadline - time.perf_counter()
                if left is not None and left <= 0:
                    break
                ready = select.select(fds, [], [], left)[0]
                if fds[0] in ready:
                    _read_ready(sock, _BATCH, packet)
                if stop.wakeup in ready:
                    os.read(stop.wakeup, 64)
            # what arrived before the stop is in the socket's queue: read it all
            for _ in range(_DRAIN_BATCHES):
                if _read_ready(sock, _BATCH, packet) < _BATCH:
                    break
            st.interrupted = stop.signal is not None
    except OSError as exc:
        raise CaptureError(f"{interface}: capture failed: {exc}") from None
    finally:
        sock.close()
        extractor.finish()
        evidence.extend(extractor.out)
        extractor.out.clear()
        st.packets += number
        st.elapsed = time.perf_counter() - started
        st.evidence = extractor.stats.evidence
        st.parse_errors = dict(extractor.stats.parse_errors)
        st.notes = extractor.stats.notes
    return evidence
