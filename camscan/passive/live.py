"""Live passive capture: scapy's sniff on one interface for a while, through the same fast
path as capture files. It only listens: the socket is scapy's listen-only L2 socket (it
refuses to send) and nothing else is opened.

The kernel filter (camscan.passive.bpf) keeps only what passive mode reads on Ethernet-type
interfaces; on others scapy compiles an equivalent pcap expression when libpcap is there,
and otherwise everything is captured and the fast path sorts it out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from camscan.errors import CaptureError
from camscan.model import Evidence
from camscan.passive import PassiveStats
from camscan.passive.bpf import attach, ethernet_program
from camscan.passive.extract import TCP_PORTS, UDP_PORTS, Extractor
from camscan.passive.fastpath import ETHERNET, FastPath


def bpf_expression(
    udp_ports: frozenset[int] = UDP_PORTS, tcp_ports: frozenset[int] = TCP_PORTS
) -> str:
    """The kernel filter as a pcap expression (for interfaces that are not Ethernet)."""
    udp = " or ".join(f"port {p}" for p in sorted(udp_ports))
    tcp = " or ".join(f"port {p}" for p in sorted(tcp_ports))
    return (
        f"arp or (udp and ({udp})) or (tcp and ({tcp})) or (tcp and tcp[tcpflags] & tcp-syn != 0)"
    )


def _open_socket(interface: str, warn: Callable[[str], None]) -> tuple[object, int]:
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


def live_evidence(
    interface: str,
    duration: float,
    *,
    stats: PassiveStats | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_started: Callable[[], None] | None = None,
) -> list[Evidence]:
    """Listen on `interface` for `duration` seconds (Ctrl-C ends early) and return the
    evidence heard. Needs root or CAP_NET_RAW; every failure to capture is a CaptureError."""
    from scapy.sendrecv import sniff

    st = stats if stats is not None else PassiveStats()

    def warn(message: str) -> None:
        st.warn(message)
        if on_warning is not None:
            on_warning(message)

    sock, linktype = _open_socket(interface, warn)
    extractor = Extractor(warn, source=interface)
    fast = FastPath(extractor, warn)
    evidence: list[Evidence] = []
    number = 0

    def packet(pkt: object) -> None:
        nonlocal number
        number += 1
        data = getattr(pkt, "original", None) or bytes(pkt)  # type: ignore[call-overload]
        try:
            fast.feed(number, float(getattr(pkt, "time", 0.0) or time.time()), linktype, data)
        except Exception as exc:  # noqa: BLE001 - scapy would close the socket on a raise
            warn(f"{interface}: packet {number} could not be read: {type(exc).__name__}")
        if extractor.out:
            evidence.extend(extractor.out)
            extractor.out.clear()

    started = time.perf_counter()
    try:
        sniff(
            opened_socket=sock,
            prn=packet,
            store=False,
            timeout=duration,
            started_callback=on_started,
        )
    finally:
        sock.close()  # type: ignore[attr-defined]
        extractor.finish()
        evidence.extend(extractor.out)
        extractor.out.clear()
        st.packets += number
        st.elapsed = time.perf_counter() - started
        st.evidence = extractor.stats.evidence
        st.parse_errors = dict(extractor.stats.parse_errors)
    return evidence
