"""Vendor discovery protocols (Hanwha, Bosch, Ubiquiti, Vivotek, Foscam, Panasonic, Sony).

Each vendor module holds one `VendorProtocol`: the inquiry it sends, where to, where answers
arrive, a cheap test of whether a datagram belongs to it, and a pure parser (bytes ->
VendorReply, or ParseError). `vendor_evidence` turns any reply into one `vendor_discovery`
evidence item: key=value lines starting with vendor=<Name>, then model, mac, firmware, name,
serial, ip and the protocol's other fields.

Where the public facts give a full layout (Ubiquiti's TLVs, Foscam's MO_I frame) the parser
reads fields at their places; where they only give a port and a magic number, the parser is
tolerant: it checks the magic and reads the text the reply carries (MAC, addresses, model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from camscan.discovery.wire import evidence, ipv4_text, normalize_mac
from camscan.model import Evidence
from camscan.protocols import kv_lines

MAX_FIELDS = 64
MAX_VALUE = 256
_FIRST = ("model", "mac", "firmware", "name", "serial", "ip")


@dataclass(frozen=True, slots=True)
class VendorReply:
    vendor: str
    pairs: list[tuple[str, str]] = field(default_factory=list)  # without the vendor line
    mac: str | None = None  # as the payload states it, normalised
    ipv4: str | None = None  # as the payload states it

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.pairs if k == key), None)


@dataclass(frozen=True, slots=True)
class VendorProtocol:
    name: str  # the discovery module's name, e.g. "hanwha"
    vendor: str  # the vendor= value
    port: int  # where the inquiry goes
    reply_port: int | None  # fixed port the answers go to (None: back to our source port)
    groups: tuple[str, ...]  # multicast groups the inquiry also goes to
    build: Callable[[], bytes]
    parse: Callable[[bytes], VendorReply]
    claims: Callable[[bytes], bool]  # True when a datagram looks like this protocol's answer


def make_reply(vendor: str, pairs: list[tuple[str, str | None]]) -> VendorReply:
    """Put the well-known keys first (model, mac, firmware, name, serial, ip), keep the rest
    in the order given; drop empty values, cap sizes."""
    clean = [(k, " ".join(v.split())[:MAX_VALUE]) for k, v in pairs if v and v.strip()]
    first: list[int] = []
    for key in _FIRST:
        i = next((i for i, (k, _) in enumerate(clean) if k == key), None)
        if i is not None:
            first.append(i)
    ordered = [clean[i] for i in first] + [p for i, p in enumerate(clean) if i not in first]
    ordered = ordered[:MAX_FIELDS]
    return VendorReply(
        vendor,
        ordered,
        mac=normalize_mac(next((v for k, v in ordered if k == "mac"), None)),
        ipv4=ipv4_text(next((v for k, v in ordered if k == "ip"), None)),
    )


def vendor_evidence(
    reply: VendorReply,
    ip: str | None,
    *,
    port: int | None,
    module: str,
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """One `vendor_discovery` evidence item (vendor=... first)."""
    return [
        evidence(
            module=module,
            protocol="vendor_discovery",
            value=kv_lines([("vendor", reply.vendor), *reply.pairs]),
            ip=ip or reply.ipv4,
            mac=reply.mac,
            port=port,
            observed_at=observed_at,
            packet=packet,
        )
    ]


def all_protocols() -> list[VendorProtocol]:
    from camscan.discovery.vendors import (
        bosch,
        foscam,
        hanwha,
        panasonic,
        sony,
        ubiquiti,
        vivotek,
    )

    return [m.PROTOCOL for m in (hanwha, bosch, ubiquiti, vivotek, foscam, panasonic, sony)]
