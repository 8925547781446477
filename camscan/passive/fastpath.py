"""The cheap per-packet dispatch: link, VLAN, IPv4, IPv6, UDP and TCP headers decoded by
hand, and only packets of interesting ethertypes and ports handed on.

Most packets of a capture are unrelated traffic; for them this is the whole cost, so the code
below trades some beauty for speed (local names, byte indexing, no objects per packet). IPv4
is decoded inline; IPv6, fragments and neighbor discovery are rarer and have methods of their
own. Nothing here raises on short or odd packets: a header that does not fit is a packet
skipped.

IPv6 extension headers (hop-by-hop, routing, destination options, authentication) are walked
to the transport header, at most MAX_EXTENSIONS of them. UDP fragments of either family are
reassembled (camscan.passive.reassembly); TCP fragments are skipped. ICMPv6 neighbor and
router solicitations and advertisements that carry a link-layer address option are IPv6's ARP:
handed on as `arp` with a 16-byte address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from camscan.passive.reassembly import Reassembler

ETHERNET = 1
NULL = 0
RAW = 101
LINUX_SLL = 113
LOOP = 108
IPV4 = 228
IPV6 = 229
LINUX_SLL2 = 276
LINK_TYPES = frozenset({NULL, ETHERNET, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2})

_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_SEEN_CACHE = 1 << 18  # (mac, ip) pairs remembered before the cache is reset
_NULL_IPV4 = frozenset({b"\x02\x00\x00\x00", b"\x00\x00\x00\x02"})
# AF_INET6 as BSDs write it in DLT_NULL/LOOP headers: 24 (NetBSD/OpenBSD), 28 (FreeBSD),
# 30 (macOS), in either byte order
_NULL_IPV6 = frozenset(
    n.to_bytes(4, order) for n in (24, 28, 30) for order in ("little", "big")
)  # fmt: skip
_EXTENSIONS = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
_AH = 51
_FRAGMENT = 44
_ICMPV6 = 58
MAX_EXTENSIONS = 8  # RFC 8200 allows each header once (destination options twice)
# ICMPv6 RS, RA, NS, NA -> where their options start
_ND_OPTIONS = {133: 8, 134: 16, 135: 24, 136: 24}
_UNSPECIFIED = bytes(16)
_NO_MAC = bytes(6)


class Sink(Protocol):
    """What the dispatcher hands packets to (camscan.passive.extract.Extractor)."""

    udp_ports: frozenset[int]
    tcp_ports: frozenset[int]

    def observe_mac(self, mac: bytes, ip: bytes, number: int, ts: float) -> None: ...

    def arp(self, mac: bytes, ip: bytes, number: int, ts: float) -> None:
        """A binding the host states: an ARP sender, an IPv6 neighbor discovery option."""

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
        self.fragments = Reassembler()

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
        elif linktype == RAW or linktype == IPV4 or linktype == IPV6:
            if n < 1:
                return
            version = data[0] >> 4
            if version == 4:
                etype = 0x0800
            elif version == 6:
                etype = 0x86DD
            else:
                return
            off = 0
        elif linktype == NULL or linktype == LOOP:
            if n < 4:
                return
            family = data[0:4]
            if family in _NULL_IPV4:
                etype = 0x0800
            elif family in _NULL_IPV6:
                etype = 0x86DD
            else:
                return
            off = 4
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
            if mac is not None and mac + src not in self._seen:  # a call only when new
                self._observe(mac, src, number, ts)
            if (data[off + 6] & 0x3F) or data[off + 7]:
                if data[off + 9] == 17:  # a UDP fragment (more-fragments set, or an offset)
                    self._fragment4(number, ts, data, off, ihl, src)
                return
            total = (data[off + 2] << 8) | data[off + 3]
            end = off + total
            if total < ihl or end > n:
                end = n  # snaplen-cut, or a segmentation-offload capture with length 0
            proto = data[off + 9]
            l4 = off + ihl
            # the port check inline: it turns away most packets of a capture
            if (proto == 17 or proto == 6) and end >= l4 + 4:
                ports = self._udp_ports if proto == 17 else self._tcp_ports
                if ((data[l4] << 8) | data[l4 + 1]) in ports or (
                    (data[l4 + 2] << 8) | data[l4 + 3]
                ) in ports:
                    self._transport(
                        number, ts, proto, data, l4, end, src, data[off + 16 : off + 20]
                    )
        elif etype == 0x0806:
            # htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4
            if n < off + 28 or data[off : off + 6] != b"\x00\x01\x08\x00\x06\x04":
                return
            sha = data[off + 8 : off + 14]
            spa = data[off + 14 : off + 18]
            if spa != b"\x00\x00\x00\x00" and sha[0] & 1 == 0:
                self.sink.arp(sha, spa, number, ts)
        elif etype == 0x86DD:
            self._ipv6(number, ts, data, off, mac)

    # -- the rarer paths: IPv6, fragments, neighbor discovery --------------------------
    def _ipv6(self, number: int, ts: float, data: bytes, off: int, mac: bytes | None) -> None:
        n = len(data)
        if n < off + 40 or data[off] >> 4 != 6:
            return
        src = data[off + 8 : off + 24]
        if mac is not None:
            self._observe(mac, src, number, ts)
        plen = (data[off + 4] << 8) | data[off + 5]
        end = off + 40 + plen
        whole = plen != 0 and end <= n
        if not whole:
            end = n  # snaplen-cut, a jumbogram, or a segmentation-offload capture
        nh = data[off + 6]
        p = off + 40
        for _ in range(MAX_EXTENSIONS + 1):
            if nh == 17 or nh == 6:
                self._transport(number, ts, nh, data, p, end, src, data[off + 24 : off + 40])
                return
            if end < p + 8:
                return
            if nh in _EXTENSIONS:
                nh, p = data[p], p + ((data[p + 1] + 1) << 3)
            elif nh == _FRAGMENT:
                word = (data[p + 2] << 8) | data[p + 3]
                if word & 0xFFF9 == 0:  # offset 0, no more: an atomic fragment (RFC 6946)
                    nh, p = data[p], p + 8
                    continue
                if data[p] == 17 and whole:
                    key = data[off + 8 : off + 40] + data[p + 4 : p + 8]
                    self._udp_fragment(
                        number, ts, key, word & 0xFFF8, bool(word & 1), data[p + 8 : end],
                        src, data[off + 24 : off + 40],
                    )  # fmt: skip
                return
            elif nh == _AH:
                nh, p = data[p], p + ((data[p + 1] + 2) << 2)
            elif nh == _ICMPV6:
                self._neighbor(number, ts, data, off, p, end, src)
                return
            else:
                return  # ESP, no next header, or a protocol not read here

    def _observe(self, mac: bytes, src: bytes, number: int, ts: float) -> None:
        """A frame from `src` with source MAC `mac`: the sink hears of each pair once."""
        key = mac + src
        seen = self._seen
        if key not in seen:
            if len(seen) >= _SEEN_CACHE:
                seen.clear()
            seen.add(key)
            self.sink.observe_mac(mac, src, number, ts)

    def _transport(
        self, number: int, ts: float, proto: int, data: bytes, l4: int, end: int,
        src: bytes, dst: bytes,
    ) -> None:  # fmt: skip
        """The UDP (17) or TCP (6) header at l4: handed on when a port is read here."""
        if proto == 17:
            if end < l4 + 8:
                return
            sport = (data[l4] << 8) | data[l4 + 1]
            dport = (data[l4 + 2] << 8) | data[l4 + 3]
            if sport in self._udp_ports or dport in self._udp_ports:
                self.sink.udp(number, ts, src, dst, sport, dport, data[l4 + 8 : end])
            return
        if end < l4 + 20:
            return
        sport = (data[l4] << 8) | data[l4 + 1]
        dport = (data[l4 + 2] << 8) | data[l4 + 3]
        if sport in self._tcp_ports or dport in self._tcp_ports:
            doff = (data[l4 + 12] >> 4) << 2
            if doff < 20:
                return
            self.sink.tcp(
                number, ts, src, dst, sport, dport, int.from_bytes(data[l4 + 4 : l4 + 8], "big"),
                data[l4 + 13], data[l4 + doff : end],
            )  # fmt: skip

    def _neighbor(
        self, number: int, ts: float, data: bytes, off: int, p: int, end: int, src: bytes
    ) -> None:
        """RS, RA, NS (source link-layer option: the source address's MAC) and NA (target
        link-layer option: the target address's MAC), RFC 4861."""
        at = _ND_OPTIONS.get(data[p])
        # hop limit 255 and code 0, as RFC 4861 has receivers check: nothing forwarded
        if at is None or data[off + 7] != 255 or data[p + 1] != 0:
            return
        if data[p] == 136:
            if end < p + 24:
                return
            ip, want = data[p + 8 : p + 24], 2
        else:
            ip, want = src, 1
        if ip[0] == 0xFF or ip == _UNSPECIFIED:
            return  # a group address, or duplicate address detection's ::
        q = p + at
        while q + 8 <= end:
            size = data[q + 1] << 3
            if size == 0:
                return  # a zero-length option makes the whole message invalid
            if data[q] == want and size == 8:
                mac = data[q + 2 : q + 8]
                if mac[0] & 1 == 0 and mac != _NO_MAC:
                    self.sink.arp(mac, ip, number, ts)
                return
            q += size

    def _fragment4(
        self, number: int, ts: float, data: bytes, off: int, ihl: int, src: bytes
    ) -> None:
        total = (data[off + 2] << 8) | data[off + 3]
        end = off + total
        if total <= ihl or end > len(data):
            return  # cut by the snap length: it could not be put together right
        offset = (((data[off + 6] & 0x1F) << 8) | data[off + 7]) << 3
        more = bool(data[off + 6] & 0x20)
        # RFC 791: a datagram is its source, destination, protocol (UDP) and identification
        key = data[off + 12 : off + 20] + data[off + 4 : off + 6]
        self._udp_fragment(
            number, ts, key, offset, more, data[off + ihl : end], src, data[off + 16 : off + 20]
        )

    def _udp_fragment(
        self,
        number: int,
        ts: float,
        key: bytes,
        offset: int,
        more: bool,
        part: bytes,
        src: bytes,
        dst: bytes,
    ) -> None:
        fragments = self.fragments
        if offset == 0 and len(part) >= 8:
            sport = (part[0] << 8) | part[1]
            dport = (part[2] << 8) | part[3]
            if sport not in self._udp_ports and dport not in self._udp_ports:
                fragments.discard(key, number, ts)  # and the fragments still to come
                return
        datagram = fragments.add(key, offset, more, part, number, ts)
        if datagram is None or len(datagram) < 8:
            return
        length = (datagram[4] << 8) | datagram[5]
        end = length if 8 <= length <= len(datagram) else len(datagram)
        self._transport(number, ts, 17, datagram, 0, end, src, dst)
