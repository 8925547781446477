"""The cheap per-packet dispatch: link, VLAN, IPv4, UDP and TCP headers decoded by hand,
and only packets of interesting ethertypes and ports handed on.

Most packets of a capture are unrelated traffic; for them this is the whole cost, so the code
below trades some beauty for speed (local names, byte indexing, no objects per packet).
Nothing here raises on short or odd packets: a header that does not fit is a packet skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

ETHERNET = 1
NULL = 0
RAW = 101
LINUX_SLL = 113
LOOP = 108
IPV4 = 228
LINUX_SLL2 = 276
LINK_TYPES = frozenset({NULL, ETHERNET, RAW, LOOP, LINUX_SLL, IPV4, LINUX_SLL2})

_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_SEEN_CACHE = 1 << 18  # (mac, ip) pairs remembered before the cache is reset


class Sink(Protocol):
    """What the dispatcher hands packets to (camscan.passive.extract.Extractor)."""

    udp_ports: frozenset[int]
    tcp_ports: frozenset[int]

    def observe_mac(self, mac: bytes, ip: bytes, number: int, ts: float) -> None: ...

    def arp(self, mac: bytes, ip: bytes, number: int, ts: float) -> None: ...

    def udp(
        self, number: int, ts: float, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes
    ) -> None: ...

    def tcp(
        self,
        number: int,
        ts: float,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        seq: int,
        flags: int,
        payload: bytes,
    ) -> None: ...


class FastPath:
    """Feed it (number, ts, linktype, data) per packet; it calls the sink for what matters."""

    def __init__(self, sink: Sink, warn: Callable[[str], None]) -> None:
        self.sink = sink
        self.warn = warn
        self._udp_ports = sink.udp_ports
        self._tcp_ports = sink.tcp_ports  # the sink may grow this set while we run
        self._bad_links: set[int] = set()
        self._seen: set[bytes] = set()

    def unsupported(self, linktype: int, number: int) -> None:
        if linktype not in self._bad_links:
            self._bad_links.add(linktype)
            self.warn(f"link type {linktype} not supported (first at packet {number}); skipped")

    def feed(self, number: int, ts: float, linktype: int, data: bytes) -> None:
        n = len(data)
        mac: bytes | None = None
        if linktype == ETHERNET:
            if n < 14:
                return
            etype = (data[12] << 8) | data[13]
            off = 14
            while etype in _VLAN:
                if n < off + 4:
                    return
                etype = (data[off + 2] << 8) | data[off + 3]
                off += 4
            if data[6] & 1 == 0:  # a group address is never a real source
                mac = data[6:12]
        elif linktype == LINUX_SLL:
            if n < 16:
                return
            etype = (data[14] << 8) | data[15]
            off = 16
            if data[2:6] == b"\x00\x01\x00\x06" and data[6] & 1 == 0:
                mac = data[6:12]
        elif linktype == LINUX_SLL2:
            if n < 20:
                return
            etype = (data[0] << 8) | data[1]
            off = 20
            if data[8:10] == b"\x00\x01" and data[11] == 6 and data[12] & 1 == 0:
                mac = data[12:18]
        elif linktype == RAW or linktype == IPV4:
            if n < 1 or data[0] >> 4 != 4:
                return
            etype, off = 0x0800, 0
        elif linktype == NULL or linktype == LOOP:
            if n < 4:
                return
            family = data[0:4]
            if family != b"\x02\x00\x00\x00" and family != b"\x00\x00\x00\x02":
                return
            etype, off = 0x0800, 4
        else:
            self.unsupported(linktype, number)
            return

        if etype == 0x0800:
            if n < off + 20:
                return
            vihl = data[off]
            ihl = (vihl & 15) << 2
            if vihl >> 4 != 4 or ihl < 20 or n < off + ihl:
                return
            src = data[off + 12 : off + 16]
            if mac is not None:
                key = mac + src
                seen = self._seen
                if key not in seen:
                    if len(seen) >= _SEEN_CACHE:
                        seen.clear()
                    seen.add(key)
                    self.sink.observe_mac(mac, src, number, ts)
            if (data[off + 6] & 0x1F) or data[off + 7]:
                return  # a later fragment: no transport header here
            total = (data[off + 2] << 8) | data[off + 3]
            end = off + total
            if total < ihl or end > n:
                end = n  # snaplen-cut, or a segmentation-offload capture with length 0
            proto = data[off + 9]
            l4 = off + ihl
            if proto == 17:
                if end < l4 + 8:
                    return
                sport = (data[l4] << 8) | data[l4 + 1]
                dport = (data[l4 + 2] << 8) | data[l4 + 3]
                if sport in self._udp_ports or dport in self._udp_ports:
                    self.sink.udp(
                        number, ts, src, data[off + 16 : off + 20], sport, dport,
                        data[l4 + 8 : end],
                    )  # fmt: skip
            elif proto == 6:
                if end < l4 + 20:
                    return
                sport = (data[l4] << 8) | data[l4 + 1]
                dport = (data[l4 + 2] << 8) | data[l4 + 3]
                if sport in self._tcp_ports or dport in self._tcp_ports:
                    doff = (data[l4 + 12] >> 4) << 2
                    if doff < 20:
                        return
                    self.sink.tcp(
                        number, ts, src, data[off + 16 : off + 20], sport, dport,
                        int.from_bytes(data[l4 + 4 : l4 + 8], "big"), data[l4 + 13],
                        data[l4 + doff : end],
                    )  # fmt: skip
        elif etype == 0x0806:
            # htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4
            if n < off + 28 or data[off : off + 6] != b"\x00\x01\x08\x00\x06\x04":
                return
            sha = data[off + 8 : off + 14]
            spa = data[off + 14 : off + 18]
            if spa != b"\x00\x00\x00\x00" and sha[0] & 1 == 0:
                self.sink.arp(sha, spa, number, ts)
