"""WS-Discovery (SOAP 1.2, WS-Addressing 2004/08, WS-Discovery 2005/04) on UDP 3702.

A Probe (multicast to 239.255.255.250:3702 or unicast to ip:3702) whose Types all match the
persona's types (empty Types match everything; a prefix the probe does not declare matches by
local name) and whose Scopes are each a prefix of one of the persona's scopes gets, after a
random delay within APP_MAX_DELAY (500 ms), one unicast ProbeMatches from (device ip, 3702)
to the prober's address (or, with `reply_to: group`, to the group, as some stacks do):
Header MessageID (fresh urn:uuid), RelatesTo = the probe's
MessageID, To = the anonymous role, Action .../ProbeMatches; Body ProbeMatches/ProbeMatch
with EndpointReference/Address urn:uuid:<stable per device>, Types, Scopes (space separated),
XAddrs (http://ip/onvif/device_service by default) and MetadataVersion.

Announcements (sent by camscan.lab.devsim.announce): a Hello to the group when the device
joins the network, with the same EndpointReference, Types, Scopes, XAddrs and MetadataVersion,
and a Bye (EndpointReference only) when it leaves; both To the discovery URN and carrying an
AppSequence."""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from camscan.errors import ParseError
from camscan.lab.devsim import hostile
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.udp import Send, open_udp
from camscan.lab.personas import Persona

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
APP_MAX_DELAY_MS = 500
MAX_PROBE = 32 * 1024

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
ACTION_PROBE = NS_WSD + "/Probe"
ACTION_MATCHES = NS_WSD + "/ProbeMatches"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
APP_INSTANCE = 1  # AppSequence InstanceId: a real device increments it at each boot

# prefixes persona files may use in `types`
KNOWN_NS = {
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "wsdp": "http://schemas.xmlsoap.org/ws/2006/02/devprof",
    "wprt": "http://schemas.microsoft.com/windows/2006/08/wdp/print",
    "wscn": "http://schemas.microsoft.com/windows/2006/08/wdp/scan",
}


@dataclass(frozen=True)
class Probe:
    message_id: str
    types: tuple[tuple[str | None, str], ...]  # (namespace or None if undeclared, local name)
    scopes: tuple[str, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_probe(data: bytes) -> Probe:
    """A Probe message, or ParseError for anything else (Hello, Bye, junk...)."""
    if len(data) > MAX_PROBE:
        raise ParseError("WS-Discovery message too large")
    prefixes: dict[str, str] = {}
    root = None
    try:
        for event, item in safe_et.iterparse(io.BytesIO(data), events=("start-ns", "end")):
            if event == "start-ns":
                prefix, uri = item
                prefixes.setdefault(prefix, uri)
            else:
                root = item
    except (safe_et.ParseError, DefusedXmlException, ValueError) as exc:
        raise ParseError(f"bad WS-Discovery XML: {exc}") from exc
    if root is None or root.tag != f"{{{NS_SOAP}}}Envelope":
        raise ParseError("not a SOAP 1.2 envelope")
    action = root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}Action", "").strip()
    probe = root.find(f"{{{NS_SOAP}}}Body/{{{NS_WSD}}}Probe")
    if probe is None or (action and action != ACTION_PROBE):
        raise ParseError("not a WS-Discovery Probe")
    message_id = root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}MessageID", "").strip()
    types = []
    for qname in (probe.findtext(f"{{{NS_WSD}}}Types") or "").split():
        prefix, sep, local = qname.rpartition(":")
        types.append((prefixes.get(prefix) if sep else prefixes.get(""), local))
    scopes = tuple((probe.findtext(f"{{{NS_WSD}}}Scopes") or "").split())
    return Probe(message_id, tuple(types), scopes)


def persona_types(persona: Persona) -> list[tuple[str | None, str]]:
    out = []
    for qname in persona.block("wsd")["types"].split():
        prefix, _, local = qname.rpartition(":")
        out.append((KNOWN_NS.get(prefix), local))
    return out


def matches(probe: Probe, persona: Persona) -> bool:
    mine = persona_types(persona)
    for ns, local in probe.types:
        if not any(local == m_local and (ns is None or ns == m_ns) for m_ns, m_local in mine):
            return False
    scopes = persona.block("wsd").get("scopes", [])
    for wanted in probe.scopes:
        w = wanted.rstrip("/")
        if not any(s == w or s.startswith(w + "/") for s in scopes):
            return False
    return True


def xaddrs(persona: Persona) -> str:
    return persona.block("wsd").get("xaddrs") or f"http://{persona.ip}/onvif/device_service"


def _envelope(persona: Persona, header: str, body: str) -> bytes:
    used = {q.rpartition(":")[0] for q in persona.block("wsd")["types"].split()}
    ns_decl = "".join(f' xmlns:{p}="{KNOWN_NS[p]}"' for p in sorted(used) if p in KNOWN_NS)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{NS_SOAP}" xmlns:wsa="{NS_WSA}" '
        f'xmlns:d="{NS_WSD}"{ns_decl}>'
        f"<SOAP-ENV:Header>{header}</SOAP-ENV:Header>"
        f"<SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def _endpoint(persona: Persona, endpoint: str | None = None) -> str:
    return (
        "<wsa:EndpointReference>"
        f"<wsa:Address>urn:uuid:{endpoint or persona.uuid}</wsa:Address>"
        "</wsa:EndpointReference>"
    )


def _description(persona: Persona) -> str:
    """Types, Scopes, XAddrs and MetadataVersion: what ProbeMatch and Hello both carry."""
    w = persona.block("wsd")
    return (
        f"<d:Types>{escape(w['types'])}</d:Types>"
        f"<d:Scopes>{escape(' '.join(w.get('scopes', [])))}</d:Scopes>"
        f"<d:XAddrs>{escape(xaddrs(persona))}</d:XAddrs>"
        f"<d:MetadataVersion>{int(w.get('metadata_version', 1))}</d:MetadataVersion>"
    )


def build_probe_matches(persona: Persona, relates_to: str, endpoint: str | None = None) -> bytes:
    header = (
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
        f"<wsa:To>{ANONYMOUS}</wsa:To>"
        f"<wsa:Action>{ACTION_MATCHES}</wsa:Action>"
    )
    body = (
        f"<d:ProbeMatches><d:ProbeMatch>{_endpoint(persona, endpoint)}{_description(persona)}"
        "</d:ProbeMatch></d:ProbeMatches>"
    )
    return _envelope(persona, header, body)


def _announcement(persona: Persona, action: str, body: str, message_number: int) -> bytes:
    header = (
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:To>{DISCOVERY_TO}</wsa:To>"
        f"<wsa:Action>{NS_WSD}/{action}</wsa:Action>"
        f'<d:AppSequence InstanceId="{APP_INSTANCE}" MessageNumber="{message_number}"/>'
    )
    return _envelope(persona, header, body)


def build_hello(persona: Persona, message_number: int = 1) -> bytes:
    """The Hello a device multicasts when it joins the network (WS-Discovery 2005/04 4.1)."""
    body = f"<d:Hello>{_endpoint(persona)}{_description(persona)}</d:Hello>"
    return _announcement(persona, "Hello", body, message_number)


def build_bye(persona: Persona, message_number: int = 1) -> bytes:
    """The Bye a device multicasts when it leaves (WS-Discovery 2005/04 4.2)."""
    return _announcement(persona, "Bye", f"<d:Bye>{_endpoint(persona)}</d:Bye>", message_number)


async def serve(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    max_delay = persona.block("wsd").get("max_delay_ms", APP_MAX_DELAY_MS) / 1000
    flooded: set[str] = set()

    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        try:
            probe = parse_probe(data)
        except ParseError:
            return  # Hello/Bye/Resolve from others, or junk: a device stays quiet
        if not matches(probe, persona):
            return
        if persona.mode("wsd_flood"):
            if probe.message_id not in flooded and len(flooded) < 64:
                flooded.add(probe.message_id)
                replies = hostile.flood_replies(
                    persona, lambda e, r: build_probe_matches(persona, r, e), probe.message_id
                )
                for reply in replies:
                    send(reply, src)
            return
        if persona.mode("garbage"):
            reply = hostile.garbage(persona, "wsd")
        else:
            reply = build_probe_matches(persona, probe.message_id)
            reply = hostile.poisoned(persona, reply, "SOAP-ENV:Envelope", "Scopes")
        to_group = persona.block("wsd").get("reply_to") == "group" and ctx.multicast
        dest = (WSD_GROUP, WSD_PORT) if to_group else src
        loop.call_later(ctx.rng.uniform(0, max_delay), send, reply, dest)

    return await open_udp(ctx, persona.ip, WSD_PORT, [WSD_GROUP], on_packet, f"wsd {persona.name}")
