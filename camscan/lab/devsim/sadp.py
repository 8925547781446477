"""Hikvision SADP on UDP 37020 (multicast group 239.255.255.250).

Request (what a scanner sends; anything else is audited as non_discovery and not answered):

    <?xml version="1.0" encoding="utf-8"?>
    <Probe><Uuid>UPPER-CASE-UUID</Uuid><Types>inquiry</Types></Probe>

Reply, unicast from (device ip, 37020) to the prober's (ip, port) — real units multicast it to
239.255.255.250:37020; a unicast reply to the source keeps the lab simple and is what a
scanner bound to an ephemeral port can read:

    <?xml version="1.0" encoding="UTF-8"?><ProbeMatch>
    <Uuid>(echoed)</Uuid><Types>inquiry</Types>
    <DeviceType>..</DeviceType><DeviceDescription>(model)</DeviceDescription>
    <DeviceSN>(serial)</DeviceSN><CommandPort>8000</CommandPort><HttpPort>80</HttpPort>
    <MAC>28-57-be-3a-10-10</MAC><IPv4Address>..</IPv4Address>
    <IPv4SubnetMask>..</IPv4SubnetMask><IPv4Gateway>..</IPv4Gateway>
    ...every other `sadp.fields` entry of the persona in file order (IPv6Address, DHCP,
    AnalogChannelNum, DigitalChannelNum, SoftwareVersion "V5.5.800build 210628", DSPVersion,
    BootTime, Activated, PasswordResetAbility, OEMInfo on relabels...)
    </ProbeMatch>

Booleans are written true/false; text is XML-escaped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from xml.sax.saxutils import escape

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from camscan.errors import ParseError
from camscan.lab.devsim import audit, hostile
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.udp import Send, open_udp
from camscan.lab.personas import Persona

SADP_GROUP = "239.255.255.250"
SADP_PORT = 37020
MAX_PACKET = 16 * 1024
_HEAD = ("DeviceType", "DeviceDescription", "DeviceSN", "CommandPort", "HttpPort")


@dataclass(frozen=True)
class SadpProbe:
    uuid: str
    types: str


def parse_probe(data: bytes) -> SadpProbe:
    if len(data) > MAX_PACKET:
        raise ParseError("SADP packet too large")
    try:
        root = safe_et.fromstring(data)
    except (safe_et.ParseError, DefusedXmlException, ValueError) as exc:
        raise ParseError(f"bad SADP XML: {exc}") from exc
    if root.tag != "Probe":
        raise ParseError(f"SADP root is {root.tag[:40]!r}, not Probe")
    return SadpProbe((root.findtext("Uuid") or "").strip(), (root.findtext("Types") or "").strip())


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def build_probe_match(persona: Persona, probe_uuid: str) -> bytes:
    fields = dict(persona.block("sadp")["fields"])
    ordered: list[tuple[str, object]] = [("Uuid", probe_uuid), ("Types", "inquiry")]
    ordered += [(k, fields.pop(k)) for k in _HEAD if k in fields]
    ip, mac = hostile.claimed(persona)
    ordered += [
        ("MAC", mac.replace(":", "-")),
        ("IPv4Address", ip),
        ("IPv4SubnetMask", persona.netmask),
        ("IPv4Gateway", persona.gateway),
    ]
    ordered += [(k, v) for k, v in fields.items() if k not in dict(ordered)]
    body = "".join(f"<{k}>{_text(v)}</{k}>" for k, v in ordered)
    return f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch>{body}</ProbeMatch>'.encode()


async def serve(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        try:
            probe = parse_probe(data)
        except ParseError as exc:
            if data.lstrip().startswith(b"<?xml") and b"<ProbeMatch>" in data[:200]:
                return  # another device's reply seen on the group
            ctx.audit.record(persona, "sadp", SADP_PORT, src, audit.NON_DISCOVERY, str(exc))
            return
        if probe.types.lower() != "inquiry":
            ctx.audit.record(
                persona, "sadp", SADP_PORT, src, audit.NON_DISCOVERY, f"SADP Types={probe.types}"
            )
            return
        if persona.mode("garbage"):
            send(hostile.garbage(persona, "sadp"), src)
            return
        reply = build_probe_match(persona, probe.uuid)
        send(hostile.poisoned(persona, reply, "ProbeMatch", "DeviceDescription"), src)

    label = f"sadp {persona.name}"
    return await open_udp(ctx, persona.ip, SADP_PORT, [SADP_GROUP], on_packet, label)
