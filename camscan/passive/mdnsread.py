"""mDNS responses and announcements -> the service instances they describe.

zeroconf's own parser reads the packet (it marks a malformed one invalid instead of raising);
this only groups its records: PTR (type -> instance), SRV (instance -> host), TXT, and A
(host -> address). Queries are skipped: they come from browsers, not from devices.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from zeroconf import DNSAddress, DNSIncoming, DNSPointer, DNSService, DNSText

_ENUMERATION = "_services._dns-sd._udp.local."
MAX_INSTANCES = 32  # per packet
MAX_TXT_ITEMS = 64


@dataclass(slots=True)
class MdnsService:
    instance: str
    server: str | None = None
    addresses: list[str] = field(default_factory=list)
    txt: dict[bytes, bytes | None] = field(default_factory=dict)


def parse_txt(raw: bytes) -> dict[bytes, bytes | None]:
    """DNS-SD TXT strings: length-prefixed `key=value` (or bare `key`); first key wins."""
    out: dict[bytes, bytes | None] = {}
    i = 0
    while i < len(raw) and len(out) < MAX_TXT_ITEMS:
        n = raw[i]
        item = raw[i + 1 : i + 1 + n]
        i += 1 + n
        if not item:
            continue
        key, sep, value = item.partition(b"=")
        if key and key not in out:
            out[key] = value if sep else None
    return out


def mdns_services(data: bytes) -> list[MdnsService]:
    """The service instances a response packet describes (none for queries or garbage)."""
    msg = DNSIncoming(data)
    if not msg.valid or not msg.is_response():
        return []
    instances: dict[str, MdnsService] = {}
    hosts: dict[str, list[str]] = {}

    def instance(name: str) -> MdnsService | None:
        svc = instances.get(name)
        if svc is None and len(instances) < MAX_INSTANCES:
            svc = instances[name] = MdnsService(name)
        return svc

    for rec in msg.answers():
        if isinstance(rec, DNSPointer):
            if rec.name != _ENUMERATION and "._" in rec.alias:
                instance(rec.alias)
        elif isinstance(rec, DNSService):
            svc = instance(rec.name)
            if svc is not None:
                svc.server = rec.server
        elif isinstance(rec, DNSText):
            svc = instance(rec.name)
            if svc is not None:
                svc.txt = parse_txt(rec.text)
        elif isinstance(rec, DNSAddress) and len(rec.address) == 4:
            hosts.setdefault(rec.name.lower(), []).append(socket.inet_ntoa(rec.address))
    for svc in instances.values():
        if svc.server:
            svc.addresses = hosts.get(svc.server.lower(), [])
    return list(instances.values())
