"""Which MAC belongs to which IPv4 or IPv6 address, from traffic.

ARP senders, DHCP leases and IPv6 neighbor discovery options are bindings a host states
itself: reported at once. So is the source MAC of an IPv6 frame sent from a link-local
address, or from an address whose interface identifier is that MAC's EUI-64: routers never
forward the first (RFC 4291), and a forwarded packet's EUI-64 is another host's MAC. Any other
source MAC of an IP frame is only a candidate, because a router forwards other hosts' packets
with its own MAC: candidates are reported at the end, and per address family not for a MAC
that also stated its own address of that family, nor for one seen with several IPv4 (or many
IPv6) source addresses (a router: the hosts behind it stay apart, each by its address), nor
global addresses of a MAC that also sends from a private one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from camscan.model import Evidence

ROUTER_IPS = 4  # a MAC sending from more source addresses than this forwards for others
MAX_MACS = 1 << 16

_V4_UNSPECIFIED, _V4_BROADCAST = bytes(4), b"\xff" * 4
_V6_UNSPECIFIED, _V6_LOOPBACK = bytes(16), bytes(15) + b"\x01"


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ip_text(ip: bytes) -> str:
    """4 or 16 address bytes as text."""
    return socket.inet_ntoa(ip) if len(ip) == 4 else socket.inet_ntop(socket.AF_INET6, ip)


def eui64(mac: bytes) -> bytes:
    """The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A)."""
    return bytes((mac[0] ^ 2, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]))


class MacTable:
    def __init__(
        self,
        emit: Callable[[Evidence], None],
        *,
        module: str = "passive",
        router_ips: int = ROUTER_IPS,
        max_macs: int = MAX_MACS,
    ) -> None:
        self._emit = emit
        self._module = module
        self._router_ips = router_ips
        self._max_macs = max_macs
        self._stated: set[tuple[bytes, bytes | None]] = set()
        self._stating: set[tuple[bytes, int]] = set()  # (mac, 4 or 16): stated its own
        # (mac, 4 or 16) -> {ip: (packet, ts, source)}; None once the MAC looks like a router
        self._candidates: dict[
            tuple[bytes, int], dict[bytes, tuple[int, float, str | None]] | None
        ] = {}
        self.full = False  # more MACs than max_macs were seen: later ones were ignored

    def stated(self, mac: bytes, ip: bytes | None, number: int, ts: float) -> None:
        """A binding the host announced itself (ARP sender, DHCP, neighbor discovery)."""
        if ip is not None:
            self._stating.add((mac, len(ip)))
        self._bind(mac, ip, number, ts)

    def observe(
        self, mac: bytes, ip: bytes, number: int, ts: float, source: str | None = None
    ) -> None:
        """The source MAC and source address of an IP frame (source: where it was seen)."""
        if len(ip) == 4:
            if ip == _V4_UNSPECIFIED or ip == _V4_BROADCAST or ip[0] >= 224:
                return
        else:
            if ip[0] == 0xFF or ip == _V6_UNSPECIFIED or ip == _V6_LOOPBACK:
                return
            if (ip[0] == 0xFE and ip[1] & 0xC0 == 0x80) or ip[8:] == eui64(mac):
                self._bind(mac, ip, number, ts)  # never another host's, see the docstring
                return
        key = (mac, len(ip))
        ips = self._candidates.get(key, False)
        if ips is None:
            return
        if ips is False:
            if len(self._candidates) >= self._max_macs:
                self.full = True
                return
            ips = self._candidates[key] = {}
        if ip in ips:
            return
        if len(ips) >= self._router_ips:
            self._candidates[key] = None
            return
        ips[ip] = (number, ts, source)

    def finish(self) -> None:
        """Report the candidates that survived. An IPv4 candidate survives only as its MAC's
        one address: a host has one IPv4 address on its segment, so a MAC sending from
        several (three cameras behind a router, all with the router's MAC) forwards for
        others and names none of them. IPv6 hosts have several addresses (temporary ones):
        up to `router_ips` of them count."""
        for (mac, family), ips in self._candidates.items():
            if not ips or (mac, family) in self._stating:
                continue
            private = {ip for ip in ips if not ipaddress.ip_address(ip).is_global}
            kept = [ip for ip in ips if not private or ip in private]
            if family == 4 and len(kept) > 1:
                continue
            for ip in kept:
                number, ts, source = ips[ip]
                if (mac, ip) not in self._stated:
                    self._emit(self._evidence(mac, ip, number, ts, source))
        self._candidates.clear()

    def _bind(self, mac: bytes, ip: bytes | None, number: int, ts: float) -> None:
        if (mac, ip) in self._stated or len(self._stated) >= self._max_macs * 2:
            return
        self._stated.add((mac, ip))
        self._emit(self._evidence(mac, ip, number, ts))

    def _evidence(
        self, mac: bytes, ip: bytes | None, number: int, ts: float, source: str | None = None
    ) -> Evidence:
        text = mac_text(mac)
        return Evidence(
            module=self._module,
            protocol="mac",
            value=text,
            ip=ip_text(ip) if ip is not None else None,
            mac=text,
            source=source,
            observed_at=ts,
            packet=number,
        )
