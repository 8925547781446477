"""Hikvision SADP: the XML inquiry to 239.255.255.250:37020 and the ProbeMatch it draws.

Only the inquiry is ever sent; SADP also has commands that change a device (activate, set
IP, reset password) and camscan never sends any of them.
"""

from __future__ import annotations

import re
import uuid as _uuid
from dataclasses import dataclass, field

from camscan.discovery.answers import answer_handler
from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.udp import Listener, send_and_collect
from camscan.discovery.wire import evidence, ipv4_text, local, normalize_mac, parse_xml
from camscan.errors import ParseError
from camscan.model import Evidence
from camscan.protocols import kv_lines

GROUP = "239.255.255.250"
PORT = 37020
MAX_REPLY = 64 * 1024
MAX_FIELDS = 128
MAX_VALUE = 512
_PROBE_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>)?\s*<Probe>", re.S)


@dataclass(frozen=True, slots=True)
class SadpReply:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # child elements, in order
    mac: str | None = None  # normalised aa:bb:cc:dd:ee:ff
    ipv4: str | None = None  # IPv4Address as the device states it

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.pairs if k == key), None)


def build_inquiry(uuid: str) -> bytes:
    """The SADP inquiry (the only SADP message camscan sends); uuid: a fresh UUID."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><Probe>'
        f"<Uuid>{str(_uuid.UUID(uuid)).upper()}</Uuid><Types>inquiry</Types></Probe>"
    ).encode()


def parse(data: bytes) -> SadpReply:
    """A SADP ProbeMatch -> its child elements as ordered pairs. Raises ParseError."""
    root = parse_xml(data, max_size=MAX_REPLY, what="SADP")
    if local(root.tag) != "ProbeMatch":
        raise ParseError(f"SADP: root element is {local(root.tag)[:40]!r}, not ProbeMatch")
    pairs: list[tuple[str, str]] = []
    for el in root:
        name = local(el.tag)
        if not name or len(el):  # comments, or nested structures: not a plain field
            continue
        pairs.append((name[:64], " ".join((el.text or "").split())[:MAX_VALUE]))
        if len(pairs) >= MAX_FIELDS:
            break
    if not pairs:
        raise ParseError("SADP: ProbeMatch without fields")
    reply = SadpReply(pairs)
    return SadpReply(
        pairs,
        mac=normalize_mac(reply.get("MAC")),
        ipv4=ipv4_text(reply.get("IPv4Address")),
    )


def is_inquiry(data: bytes) -> bool:
    """True for a SADP inquiry (ours looped back, or another SADP client's)."""
    return bool(_PROBE_ROOT.match(data[:256]))


def sadp_evidence(
    reply: SadpReply,
    ip: str | None,
    *,
    module: str = "sadp",
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """One `sadp` evidence item: the fields as key=value lines, in the order sent."""
    return [
        evidence(
            module=module,
            protocol="sadp",
            value=kv_lines(reply.pairs),
            ip=ip or reply.ipv4,
            mac=reply.mac,
            port=PORT,
            observed_at=observed_at,
            packet=packet,
        )
    ]


class SadpModule(BroadcastModule):
    """Multicast inquiry; devices answer to our port or to the group on 37020, so both are
    heard (the group listener is left out when destinations are overridden, e.g. in tests)."""

    name = "sadp"

    def __init__(
        self,
        destinations: list[tuple[str, int]] | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.destinations = destinations or [(GROUP, PORT)]
        if listeners is None:
            listeners = [] if destinations else [Listener(PORT, GROUP)]
        self.listeners = listeners

    async def run(self, ctx: ScanContext) -> None:
        inquiry = build_inquiry(str(_uuid.uuid4()))
        handle = answer_handler(
            ctx,
            self.name,
            "SADP",
            skip=is_inquiry,
            parse=parse,
            to_evidence=lambda r, ip, at: sadp_evidence(r, ip, module=self.name, observed_at=at),
            detail_prefix="SADP: ",
        )

        await send_and_collect(
            ctx,
            [(inquiry, dest) for dest in self.destinations],
            ctx.settings.listen_window,
            ctx.settings.max_datagrams,
            module=self.name,
            listeners=self.listeners,
            on_datagram=handle,
        )
