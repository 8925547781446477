"""Which MAC belongs to which IPv4 address, from traffic.

ARP senders and DHCP leases are bindings a host states itself: reported at once. The source
MAC of an IPv4 frame is only a candidate, because a router forwards other hosts' packets with
its own MAC: candidates are reported at the end, and not for a MAC that also stated its own
address, nor for one seen with many source addresses (a router), nor global addresses of a
MAC that also sends from a private one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from camscan.model import Evidence

ROUTER_IPS = 4  # a MAC sending from more source addresses than this forwards for others
MAX_MACS = 1 << 16


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


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
        self._stating_macs: set[bytes] = set()
        # mac -> {ip: (packet, ts, source)}; None once the MAC looks like a router
        self._candidates: dict[bytes, dict[bytes, tuple[int, float, str | None]] | None] = {}
        self.full = False  # more MACs than max_macs were seen: later ones were ignored

    def stated(self, mac: bytes, ip: bytes | None, number: int, ts: float) -> None:
        """A binding the host announced itself (ARP sender, DHCP)."""
        if ip is not None:
            self._stating_macs.add(mac)
        if (mac, ip) in self._stated or len(self._stated) >= self._max_macs * 2:
            return
        self._stated.add((mac, ip))
        self._emit(self._evidence(mac, ip, number, ts))

    def observe(
        self, mac: bytes, ip: bytes, number: int, ts: float, source: str | None = None
    ) -> None:
        """The source MAC and source address of an IPv4 frame (source: where it was seen)."""
        if ip == b"\x00\x00\x00\x00" or ip == b"\xff\xff\xff\xff" or ip[0] >= 224:
            return
        ips = self._candidates.get(mac, False)
        if ips is None:
            return
        if ips is False:
            if len(self._candidates) >= self._max_macs:
                self.full = True
                return
            ips = self._candidates[mac] = {}
        if ip in ips:
            return
        if len(ips) >= self._router_ips:
            self._candidates[mac] = None
            return
        ips[ip] = (number, ts, source)

    def finish(self) -> None:
        """Report the candidates that survived."""
        for mac, ips in self._candidates.items():
            if not ips or mac in self._stating_macs:
                continue
            private = {ip for ip in ips if not ipaddress.IPv4Address(ip).is_global}
            for ip, (number, ts, source) in ips.items():
                if private and ip not in private:
                    continue
                if (mac, ip) not in self._stated:
                    self._emit(self._evidence(mac, ip, number, ts, source))
        self._candidates.clear()

    def _evidence(
        self, mac: bytes, ip: bytes | None, number: int, ts: float, source: str | None = None
    ) -> Evidence:
        text = mac_text(mac)
        return Evidence(
            module=self._module,
            protocol="mac",
            value=text,
            ip=socket.inet_ntoa(ip) if ip is not None else None,
            mac=text,
            source=source,
            observed_at=ts,
            packet=number,
        )
