"""Which segments may hear a scan's multicast and broadcast inquiries (DESIGN section 6:
nothing outside the targets).

A multicast or broadcast inquiry (WS-Discovery, SSDP, mDNS, SADP, Dahua, vendor discovery, an
ARP who-has) is heard by every host of the segment it goes out on, excluded ones included. It
may therefore go out only on an attached subnet that holds at least one target address: one
that the targets overlap, with something left once the exclusions and the scanner's own
address are taken out. A scan of off-link targets sends none; those hosts are found by the
port sweep and asked by unicast.

Pure code: no sockets, no processes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Net = ipaddress.IPv4Network

LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
MAX_LISTED = 8  # addresses named in the "answered from outside the targets" warning


def _span(net: Net) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


def _hosts_span(net: Net) -> tuple[int, int]:
    """First and last host address of a subnet (a /31 or /32 is all hosts)."""
    lo, hi = _span(net)
    return (lo + 1, hi - 1) if net.prefixlen <= 30 else (lo, hi)


def _subtract(spans: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    out = []
    for a, b in spans:
        if hi < a or lo > b:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo - 1))
        if hi < b:
            out.append((hi + 1, b))
    return out


def holds_target(
    segment: Net,
    targets: Iterable[Net],
    excludes: Iterable[Net] = (),
    local_ip: str | None = None,
) -> bool:
    """True when some host address of `segment` is a target: in a target, not excluded, not
    the scanner's own address."""
    first, last = _hosts_span(segment)
    spans: list[tuple[int, int]] = []
    for t in targets:
        lo, hi = _span(t)
        lo, hi = max(lo, first), min(hi, last)
        if lo <= hi:
            spans.append((lo, hi))
    for ex in excludes:
        spans = _subtract(spans, *_span(ex))
    if local_ip:
        try:
            here = int(ipaddress.IPv4Address(local_ip))
        except ValueError:
            here = None
        if here is not None:
            spans = _subtract(spans, here, here)
    return bool(spans)


def inquiry_segments(
    attached: Sequence[Net],
    targets: Sequence[Net],
    excludes: Sequence[Net] = (),
    local_ip: str | None = None,
) -> list[Net]:
    """The attached subnets a multicast or broadcast inquiry may go out on: those that hold a
    target address (see holds_target). Empty for a scan of off-link targets only."""
    out = [net for net in attached if holds_target(net, targets, excludes, local_ip)]
    return list(dict.fromkeys(out))


def directed_broadcasts(segments: Sequence[Net], local_ip: str | None) -> list[str]:
    """Directed-broadcast addresses of the inquiry segments that hold the scan address. Only
    those: a directed broadcast to any other subnet would be handed to the default gateway."""
    if not local_ip:
        return []
    try:
        here = ipaddress.IPv4Address(local_ip)
    except ValueError:
        return []
    if here.is_loopback:
        return []
    out = [str(n.broadcast_address) for n in segments if here in n and n.prefixlen <= 30]
    return list(dict.fromkeys(out))


def segment_wide(host: str, attached: Sequence[Net] = ()) -> bool:
    """True when a datagram to `host` reaches a whole segment: a multicast group, the limited
    broadcast, or the directed broadcast of an attached subnet."""
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    if addr.is_multicast or addr == LIMITED_BROADCAST:
        return True
    return any(addr == n.broadcast_address and n.prefixlen <= 30 for n in attached)


def may_send(host: str, segments: Sequence[Net], attached: Sequence[Net] = ()) -> bool:
    """May a datagram to `host` go out? Unicast: yes (the scope guard decides about hosts).
    A multicast group or the limited broadcast: only when some segment holds a target. A
    directed broadcast of an attached subnet: only when that subnet is an inquiry segment."""
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        return True  # not an IPv4 address: the socket refuses it, nothing to decide here
    if addr.is_multicast or addr == LIMITED_BROADCAST:
        return bool(segments)
    for net in attached:
        if addr == net.broadcast_address and net.prefixlen <= 30:
            return net in segments
    return True


def outside_answers_warning(ips: Iterable[str], modules: Iterable[str] = ()) -> str | None:
    """The scan warning for hosts outside the targets (excluded, or not targeted) that heard
    a multicast or broadcast inquiry and answered it; None when there were none."""
    found = sorted(set(ips), key=_ip_key)
    if not found:
        return None
    listed = ", ".join(found[:MAX_LISTED])
    more = f" and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    names = ", ".join(dict.fromkeys(modules))
    via = f" ({names})" if names else ""
    n = len(found)
    hosts = "host" if n == 1 else "hosts"
    return (
        f"{n} {hosts} outside the targets (excluded or not targeted) answered the multicast "
        f"or broadcast inquiry{via}; their answers were dropped: {listed}{more}"
    )


def _ip_key(ip: str) -> tuple[int, int, str]:
    try:
        return (0, int(ipaddress.ip_address(ip)), ip)
    except ValueError:
        return (1, 0, ip)
