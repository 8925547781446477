"""WS-Discovery (ONVIF): Probe to 239.255.255.250:3702, read ProbeMatches / Hello / Bye.

The parser is namespace-agnostic (it matches local names), so it reads both the 2005/04
draft ONVIF uses and WS-DD 1.1 (2009/01). Types become local names ("NetworkVideoTransmitter"),
Scopes are kept as sent: the vendor and model usually sit in `onvif://www.onvif.org/name/...`
and `.../hardware/...`, which the firmware sets freely, so the rules read them, not this code.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from camscan.discovery.base import BroadcastModule, HostModule, ScanContext
from camscan.discovery.udp import Datagram, Listener, send_and_collect
from camscan.discovery.urlpolicy import OTHER_HOST, fetchable, keep_url, keep_urls
from camscan.discovery.wire import child, children, evidence, local, parse_xml, text
from camscan.errors import ParseError
from camscan.model import Evidence

GROUP = "239.255.255.250"
PORT = 3702
MAX_MESSAGE = 64 * 1024  # a UDP datagram cannot be larger
MAX_MATCHES = 32  # ProbeMatch elements read from one message
MAX_ITEMS = 64  # scopes / types / xaddrs kept per match
MAX_ENDPOINTS_PER_IP = 4  # distinct endpoints believed from one address
MAX_COUNTED = 10_000  # endpoints over the cap counted per address (for the note)
PROBE_SPACING = 0.1  # s between the repeated probes (WS-Discovery's UDP repeat)

_NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}
_KINDS = ("ProbeMatches", "Hello", "Bye", "ResolveMatches", "Probe", "Resolve")
_MATCH_OF = {"ProbeMatches": "ProbeMatch", "ResolveMatches": "ResolveMatch"}


@dataclass(frozen=True, slots=True)
class WsdEndpoint:
    """One advertised endpoint (a ProbeMatch, or the body of a Hello/Bye)."""

    endpoint: str | None
    types: list[str] = field(default_factory=list)  # local names
    scopes: list[str] = field(default_factory=list)  # URIs as sent
    xaddrs: list[str] = field(default_factory=list)
    metadata_version: str | None = None


@dataclass(frozen=True, slots=True)
class WsdMessage:
    """action: the message kind ("ProbeMatches", "Hello", "Bye", "ResolveMatches", "Probe",
    "Resolve"); the endpoint fields are those of the first match (see `matches` for all)."""

    action: str
    message_id: str | None
    relates_to: str | None
    matches: list[WsdEndpoint] = field(default_factory=list)

    def _first(self) -> WsdEndpoint:
        return self.matches[0] if self.matches else WsdEndpoint(None)

    @property
    def endpoint(self) -> str | None:
        return self._first().endpoint

    @property
    def types(self) -> list[str]:
        return self._first().types

    @property
    def scopes(self) -> list[str]:
        return self._first().scopes

    @property
    def xaddrs(self) -> list[str]:
        return self._first().xaddrs

    @property
    def metadata_version(self) -> str | None:
        return self._first().metadata_version


def build_probe(message_id: str, types: str = "dn:NetworkVideoTransmitter") -> bytes:
    """A WS-Discovery Probe. Empty `types` omits the Types element (the spec's "any type")."""
    mid = message_id if message_id.startswith(("urn:", "uuid:")) else f"urn:uuid:{message_id}"
    ns = " ".join(f'xmlns:{p}="{u}"' for p, u in _NS.items())
    types_el = f"<d:Types>{escape(types)}</d:Types>" if types.strip() else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {ns}><s:Header>'
        f"<a:MessageID>{escape(mid)}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"
        f"</s:Header><s:Body><d:Probe>{types_el}</d:Probe></s:Body></s:Envelope>"
    ).encode()


def parse_message(data: bytes) -> WsdMessage:
    """Read a WS-Discovery SOAP message. Raises ParseError for anything else."""
    root = parse_xml(data, max_size=MAX_MESSAGE, what="WS-Discovery")
    if local(root.tag) != "Envelope":
        raise ParseError("WS-Discovery: not a SOAP envelope")
    header, body = child(root, "Header"), child(root, "Body")
    if body is None:
        raise ParseError("WS-Discovery: no SOAP Body")
    content = next((c for c in body if local(c.tag) in _KINDS), None)
    if content is None:
        raise ParseError("WS-Discovery: no Probe/ProbeMatches/Hello/Bye in the Body")
    kind = local(content.tag)
    if kind in _MATCH_OF:
        matches = [_endpoint(m) for m in children(content, _MATCH_OF[kind])][:MAX_MATCHES]
    elif kind in ("Hello", "Bye"):
        matches = [_endpoint(content)]
    else:
        matches = []
    return WsdMessage(
        action=kind,
        message_id=text(child(header, "MessageID")),
        relates_to=text(child(header, "RelatesTo")),
        matches=matches,
    )


def _endpoint(el: Element) -> WsdEndpoint:
    return WsdEndpoint(
        endpoint=text(child(child(el, "EndpointReference"), "Address")),
        types=[_local_name(t) for t in _tokens(child(el, "Types"))],
        scopes=_tokens(child(el, "Scopes")),
        xaddrs=_tokens(child(el, "XAddrs")),
        metadata_version=text(child(el, "MetadataVersion")),
    )


def _tokens(el: Element | None) -> list[str]:
    value = text(el, limit=MAX_MESSAGE)
    return [t[:1024] for t in value.split()[:MAX_ITEMS]] if value else []


def _local_name(qname: str) -> str:
    """'dn:NetworkVideoTransmitter' -> 'NetworkVideoTransmitter' (a URI keeps its last part)."""
    if "/" in qname:
        return qname.rstrip("/").rpartition("/")[2].rpartition("#")[2] or qname
    return qname.rpartition(":")[2] or qname


def wsd_evidence(
    msg: WsdMessage,
    ip: str | None,
    *,
    module: str = "wsd",
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """wsd_types and wsd_scopes for each match of the message (source = first XAddr). URLs are
    kept without user info or query (urlpolicy.keep_url)."""
    out: list[Evidence] = []
    for m in msg.matches:
        common = {
            "module": module,
            "ip": ip,
            "port": PORT,
            "source": keep_url(m.xaddrs[0] if m.xaddrs else m.endpoint),
            "observed_at": observed_at,
            "packet": packet,
        }
        if m.types:
            out.append(evidence(protocol="wsd_types", value=" ".join(m.types), **common))
        value = keep_urls(" ".join(m.scopes)) if m.scopes else ""
        if value.strip():  # a scope list that was nothing but a query string keeps nothing
            out.append(evidence(protocol="wsd_scopes", value=value.strip(), **common))
    return out


def xaddr_hints(msg: WsdMessage, ip: str) -> list[str]:
    """XAddrs camscan may speak ONVIF to: those urlpolicy.fetchable allows for the answering
    address (itself, not an SDK port, no user info, no query), as rebuilt by it; the onvif
    module checks the port against its web ports again. Any other XAddr, malformed ones
    included, is dropped, never re-pointed."""
    out = []
    for m in msg.matches:
        for url in m.xaddrs:
            verdict = fetchable(url, ip, any_web_port=True)
            if verdict.url is not None and verdict.url not in out:
                out.append(verdict.url)
    return out


_XADDR_EVENTS: weakref.WeakKeyDictionary[ScanContext, dict[str, asyncio.Event]] = (
    weakref.WeakKeyDictionary()
)


def xaddr_event(ctx: ScanContext, ip: str) -> asyncio.Event:
    """Set once WS-Discovery has hinted an ONVIF XAddr of `ip` in this scan (the onvif module
    waits for it rather than for the end of every listen window)."""
    events = _XADDR_EVENTS.setdefault(ctx, {})
    event = events.get(ip)
    if event is None:
        event = events[ip] = asyncio.Event()
        if ctx.hints(ip, "onvif_xaddr"):
            event.set()
    return event


def refused_xaddrs(msg: WsdMessage, ip: str) -> list[str]:
    """Why XAddrs of the message are not followed (one reason per refused XAddr)."""
    return [
        verdict.reason
        for m in msg.matches
        for url in m.xaddrs
        if not (verdict := fetchable(url, ip, any_web_port=True))
    ]


class _Answers:
    """Turns datagrams into evidence: dedupe by (ip, endpoint), a cap per address. `finish()`
    notes the hosts that announced more endpoints than the cap."""

    def __init__(self, ctx: ScanContext, module: str, only_ip: str | None = None) -> None:
        self.ctx = ctx
        self.module = module
        self.only_ip = only_ip
        self.endpoints: dict[str, set[str]] = {}
        self.ignored: dict[str, set[str]] = {}  # endpoints over the cap, counted (capped)

    def __call__(self, dgram: Datagram) -> None:
        ctx, ip = self.ctx, dgram.addr[0]
        if (self.only_ip and ip != self.only_ip) or not ctx.in_scope(ip):
            return
        try:
            msg = parse_message(dgram.data)
        except ParseError as exc:
            ctx.warn(self.module, f"unreadable answer from {ip}: {exc}")
            ctx.note(ip, f"unreadable WS-Discovery answer ({_reason(exc)})")
            return
        if msg.action in ("Probe", "Resolve"):
            return  # another client's request, not an answer
        seen = self.endpoints.setdefault(ip, set())
        fresh = []
        for m in msg.matches:
            key = m.endpoint or f"{m.types}{m.scopes}{m.xaddrs}"
            if key in seen:
                continue
            if len(seen) >= MAX_ENDPOINTS_PER_IP:
                ignored = self.ignored.setdefault(ip, set())
                if len(ignored) < MAX_COUNTED:
                    ignored.add(key)
                continue
            seen.add(key)
            fresh.append(m)
        if not fresh:
            return
        kept = WsdMessage(msg.action, msg.message_id, msg.relates_to, fresh)
        hinted = xaddr_hints(kept, ip)
        for url in hinted:
            ctx.add_hint(ip, "onvif_xaddr", url)
        if hinted:
            xaddr_event(ctx, ip).set()
        for reason in dict.fromkeys(refused_xaddrs(kept, ip)):
            if reason != OTHER_HOST:  # an XAddr on another address (IPv6, a NAT) is common
                ctx.warn(self.module, f"{ip}: XAddr not followed ({reason})")
        for ev in wsd_evidence(kept, ip, module=self.module, observed_at=dgram.at):
            ctx.emit(ev)
        if not kept.types and not kept.scopes:
            ctx.host_seen(ip)

    def finish(self) -> None:
        for ip, ignored in self.ignored.items():
            total = len(self.endpoints[ip]) + len(ignored)
            more = "+" if len(ignored) >= MAX_COUNTED else ""
            self.ctx.warn(self.module, f"{ip} announced more than {MAX_ENDPOINTS_PER_IP} "
                          f"endpoints ({total}{more}); kept {MAX_ENDPOINTS_PER_IP}")  # fmt: skip
            self.ctx.note(ip, f"WS-Discovery: {total}{more} endpoints from one host, kept "
                          f"{MAX_ENDPOINTS_PER_IP}")  # fmt: skip


def _reason(exc: ParseError) -> str:
    return str(exc).removeprefix("WS-Discovery: ")


def _probes(dest: tuple[str, int]) -> list[tuple[bytes, tuple[str, int]]]:
    """NVT-typed probe (what ONVIF stacks answer best) and an untyped one (devices that only
    advertise tds:Device, printers and PCs: useful to rule decoys out). Each is sent twice with
    the same MessageID, as WS-Discovery repeats UDP; conforming devices answer each id once."""
    typed = build_probe(str(uuid.uuid4()))
    untyped = build_probe(str(uuid.uuid4()), types="")
    return [(typed, dest), (untyped, dest), (typed, dest), (untyped, dest)]


class WsdModule(BroadcastModule):
    """Multicast Probe on the scan interface; answers come back unicast to our port. The
    group is listened to during the window too: Hellos of devices joining meanwhile, and
    ProbeMatches of stacks that answer to the group or to port 3702 instead of the prober
    (that listener is left out when destinations are overridden, e.g. in tests)."""

    name = "wsd"

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
        payloads = [p for dest in self.destinations for p in _probes(dest)]
        answers = _Answers(ctx, self.name)
        try:
            await send_and_collect(
                ctx,
                payloads,
                ctx.settings.listen_window,
                ctx.settings.max_datagrams,
                module=self.name,
                listeners=self.listeners,
                spacing=PROBE_SPACING,
                on_datagram=answers,
            )
        finally:
            answers.finish()


class WsdUnicastModule(HostModule):
    """Unicast Probe to port 3702 of a live host that multicast cannot reach (off-link)."""

    name = "wsd"
    ports = None

    def __init__(self, port: int = PORT) -> None:
        self.port = port

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        if ctx.on_link(ip) or not ctx.in_scope(ip):
            return  # on-link hosts got the multicast probe
        answers = _Answers(ctx, self.name, only_ip=ip)
        try:
            await send_and_collect(
                ctx,
                _probes((ip, self.port))[:2],
                min(ctx.settings.io_timeout, ctx.settings.listen_window),
                16,
                module=self.name,
                stop_after=2,
                on_datagram=answers,
            )
        finally:
            answers.finish()


__all__ = [
    "GROUP",
    "PORT",
    "WsdEndpoint",
    "WsdMessage",
    "WsdModule",
    "WsdUnicastModule",
    "build_probe",
    "parse_message",
    "wsd_evidence",
    "xaddr_hints",
]
