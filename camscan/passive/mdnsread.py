"""mDNS responses and announcements -> the service instances they describe.

zeroconf's own parser reads the packet (it marks a malformed one invalid instead of raising);
this only groups its records: PTR (type -> instance), SRV (instance -> host), TXT, A and
AAAA (host -> address). Queries are skipped: they come from browsers, not from devices.

A records give `addresses`, AAAA records `addresses6`, kept apart: the device list names a
device by its IPv4 address where it has one, and an AAAA record never stands in for a missing
A record (a host's link-local and temporary IPv6 addresses come and go; which one its answer
was sent from is the caller's to say). Both lists are capped per host.

An address record is the sender's word about a name, and anyone can send one naming any
address: given the packet's `source`, only records naming that source are kept, so evidence
goes to the responder and never, on an A record's say-so, to another address.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from zeroconf import DNSAddress, DNSIncoming, DNSPointer, DNSService, DNSText

_ENUMERATION = "_services._dns-sd._udp.local."
MAX_INSTANCES = 32  # per packet
MAX_TXT_ITEMS = 64
MAX_ADDRESSES = 8  # per host and family


@dataclass(slots=True)
class MdnsService:
    instance: str
    server: str | None = None
    addresses: list[str] = field(default_factory=list)  # IPv4, from A records
    addresses6: list[str] = field(default_factory=list)  # IPv6, from AAAA records
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


@dataclass(slots=True)
class MdnsAnswer:
    """The records of one response, grouped but not linked: the instances it describes (their
    `addresses` left empty) and, per host name (lower case), the addresses its A and AAAA
    records state. A caller that gathers several packets of one sender links them itself."""

    services: dict[str, MdnsService] = field(default_factory=dict)
    hosts: dict[str, list[str]] = field(default_factory=dict)  # IPv4
    hosts6: dict[str, list[str]] = field(default_factory=dict)  # IPv6


def mdns_answer(data: bytes) -> MdnsAnswer | None:
    """The records of a response packet; None for a query or garbage."""
    msg = DNSIncoming(data)
    if not msg.valid or not msg.is_response():
        return None
    out = MdnsAnswer()
    instances = out.services

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
        elif isinstance(rec, DNSAddress):
            _add_address(out.hosts, out.hosts6, rec.name.lower(), rec.address)
    return out


def mdns_services(data: bytes, source: str | None = None) -> list[MdnsService]:
    """The service instances a response packet describes (none for queries or garbage).
    `source`: the packet's sender; when given, `addresses`/`addresses6` hold it at most (an
    address record naming any other address is dropped)."""
    answer = mdns_answer(data)
    if answer is None:
        return []
    for svc in answer.services.values():
        if svc.server:
            svc.addresses = answer.hosts.get(svc.server.lower(), [])
            svc.addresses6 = answer.hosts6.get(svc.server.lower(), [])
            if source is not None:
                svc.addresses = [a for a in svc.addresses if a == source]
                svc.addresses6 = [a for a in svc.addresses6 if a == source]
    return list(answer.services.values())


def _add_address(
    hosts: dict[str, list[str]], hosts6: dict[str, list[str]], name: str, raw: bytes
) -> None:
    if len(raw) == 4:
        text, table = socket.inet_ntoa(raw), hosts
    elif len(raw) == 16:
        text, table = socket.inet_ntop(socket.AF_INET6, raw), hosts6
    else:
        return
    known = table.setdefault(name, [])
    if text not in known and len(known) < MAX_ADDRESSES:
        known.append(text)
