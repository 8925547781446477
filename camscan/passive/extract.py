"""Packets -> Evidence: what the fast path hands on is read here with the same parsers the
active modules use (camscan.discovery.*), so a device looks the same whether it was asked or
overheard. Only answers and announcements count: inquiries in the capture come from scanners
and clients, not from the devices.

Addresses come as 4 (IPv4) or 16 (IPv6) bytes and become text here. Every evidence item has
module "passive", the packet's time as observed_at and the packet number. Repeats (a camera
announcing itself every few seconds) are reported once, at their first packet.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from camscan.discovery import dahua, mdns, sadp, ssdp, wsd
from camscan.discovery.banner import GREETING_PORTS, GREETING_SIZE, banner_evidence
from camscan.discovery.http import http_evidence
from camscan.discovery.rtsp import parse_response as parse_rtsp
from camscan.discovery.rtsp import rtsp_evidence
from camscan.discovery.tlsinfo import cert_evidence
from camscan.discovery.vendors import VendorProtocol, all_protocols, vendor_evidence
from camscan.discovery.wire import url_host
from camscan.errors import ParseError
from camscan.model import Evidence
from camscan.notes import add_note
from camscan.passive import dhcp, dns, httphead, tls
from camscan.passive.macs import MacTable, ip_text
from camscan.passive.mdnsread import mdns_services
from camscan.passive.tcpstream import FlowKey, Stream, StreamTable

MODULE = "passive"

# Server ports whose answers are read (src port of the segment), and ports whose SYN/ACK is
# worth an open_port item although nothing is read there (vendor SDK ports).
HTTP_PORTS = frozenset(
    {80, 81, 82, 88, 443, 5000, 5001, 7001, 8000, 8001, 8080, 8081, 8088, 8443, 8888, 8899}
)
RTSP_PORTS = frozenset({554, 8554, 10554})
SDK_PORTS = frozenset({8000, 9000, 34567, 37777})
TCP_PORTS = HTTP_PORTS | RTSP_PORTS | SDK_PORTS | {53}
VENDOR_PORTS: dict[int, tuple[VendorProtocol, ...]] = {}
for _proto in all_protocols():
    for _port in {_proto.port, _proto.reply_port} - {None}:
        VENDOR_PORTS[_port] = (*VENDOR_PORTS.get(_port, ()), _proto)  # type: ignore[index]
UDP_PORTS = frozenset({53, 67, 68, 1900, 3702, 5050, 5353, 37020, 37810, *VENDOR_PORTS})

_SYN_ACK = 0x12
_ANSWER_STARTS = frozenset(b"HR\x16")  # first bytes of HTTP/, RTSP/, a TLS handshake record
_MAX_DEDUPE = 1 << 18
_MAX_DNS = 1 << 16
_MAX_REQUESTS = 1 << 14
_UNKNOWN_PATH = "?"
_MAX_TCP_PORTS = len(TCP_PORTS) + 64
_UPNP_MARK = b"urn:schemas-upnp-org:device-1-0"
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})  # a source that has no address yet


@dataclass(slots=True)
class ExtractStats:
    evidence: int = 0
    parse_errors: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # ip -> what it sent wrong


# Discovery messages a host sends only as an answer or announcement (inquiries are skipped
# before parsing): one that cannot be read is the host's fault and becomes a note on it, as in
# an active scan. Dahua and other vendor parsers also refuse the searches of clients, so a
# failure there says nothing about the sender.
_NOTED = {"wsd": "WS-Discovery", "ssdp": "SSDP", "sadp": "SADP", "mdns": "mDNS"}


class Extractor:
    """The sink of camscan.passive.fastpath.FastPath. Evidence collects in `out`; the caller
    drains it as it goes and calls finish() at the end of the traffic."""

    udp_ports = UDP_PORTS

    def __init__(
        self,
        warn: Callable[[str], None],
        *,
        source: str | None = None,
        domains: frozenset[str] | None = None,
    ) -> None:
        # grows by the ports SSDP LOCATIONs name (UPnP descriptions live there); the fast
        # path holds this very set
        self.tcp_ports: set[int] = set(TCP_PORTS)
        self.out: list[Evidence] = []
        self.stats = ExtractStats()
        self._warn = warn
        self._source = source
        self._seen: set[tuple[str, str, str | None, str | None, int | None]] = set()
        self._warned: set[str] = set()
        self.macs = MacTable(self.emit, module=MODULE)
        self.streams = StreamTable(complete=self._complete, on_done=self._stream_done)
        self._requests: OrderedDict[FlowKey, tuple[str, str]] = OrderedDict()
        # (host, vendor-cloud name) -> (packet, time, source, TCP port when a TLS
        # ClientHello named it rather than a DNS query)
        self._dns: dict[tuple[str, str], tuple[int, float, str | None, int | None]] = {}
        self._resolvers: set[str] = set()
        # vendor-cloud names worth reporting (default: camscan's own lexicon)
        self._domains = dns.known_domains() if domains is None else domains
        self._udp: dict[int, Callable[[int, float, str, int, bytes], None]] = {
            67: self._dhcp,
            68: self._dhcp,
            1900: self._ssdp,
            3702: self._wsd,
            5050: self._dahua,
            5353: self._mdns,
            37020: self._sadp,
            37810: self._dahua,
            **{port: self._vendor for port in VENDOR_PORTS},
        }

    def set_source(self, source: str | None) -> None:
        """Where the next packets come from (a file name): the `source` of evidence that
        names no better one."""
        self._source = source

    # -- output -------------------------------------------------------------------------
    def emit(self, ev: Evidence) -> None:
        key = (ev.protocol, ev.value, ev.ip, ev.mac, ev.port)
        if key in self._seen:
            return
        if len(self._seen) >= _MAX_DEDUPE:
            self._seen.clear()
        self._seen.add(key)
        if ev.module != MODULE:
            ev = replace(ev, module=MODULE)
        if ev.source is None and self._source:
            ev = replace(ev, source=self._source)
        self.stats.evidence += 1
        self.out.append(ev)

    def _emit_all(self, items: list[Evidence]) -> None:
        for ev in items:
            self.emit(ev)

    def _failed(self, what: str, number: int, exc: Exception) -> None:
        errors = self.stats.parse_errors
        errors[what] = errors.get(what, 0) + 1
        if not isinstance(exc, ParseError) and what not in self._warned:
            # a parser broke its contract: say so once, keep reading the capture
            self._warned.add(what)
            self._warn(f"{what} parser failed on packet {number}: {type(exc).__name__}: {exc}")

    # -- link layer ---------------------------------------------------------------------
    def observe_mac(self, mac: bytes, ip: bytes, number: int, ts: float) -> None:
        self.macs.observe(mac, ip, number, ts, self._source)

    def arp(self, mac: bytes, ip: bytes, number: int, ts: float) -> None:
        self.macs.stated(mac, ip, number, ts)

    # -- UDP ----------------------------------------------------------------------------
    def udp(
        self, number: int, ts: float, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes
    ) -> None:
        if not payload:
            return
        if dport == 53 or sport == 53:
            self._dns_packet(number, ts, ip_text(src), sport, dport, payload, 0)
            return
        handler = self._udp.get(sport) or self._udp.get(dport)
        if handler is None:
            return
        port = sport if sport in self._udp else dport
        ip = ip_text(src)
        try:
            handler(number, ts, ip, port, payload)
        except Exception as exc:  # noqa: BLE001 - one bad packet never ends the capture
            what = handler.__name__.strip("_")
            self._failed(what, number, exc)
            if isinstance(exc, ParseError) and what in _NOTED and ip not in _UNSPECIFIED:
                add_note(self.stats.notes, ip, f"unreadable {_NOTED[what]} message ({exc})")

    def _dhcp(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        msg = dhcp.parse(payload)
        for ev in dhcp.dhcp_evidence(msg, module=MODULE, observed_at=ts, packet=number):
            if ev.protocol == "mac" and ev.mac:
                mac = bytes.fromhex(ev.mac.replace(":", ""))
                self.macs.stated(mac, socket.inet_aton(ev.ip) if ev.ip else None, number, ts)
            else:
                self.emit(ev)

    def _ssdp(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        if not payload.startswith((b"NOTIFY", b"HTTP/1.")):
            return  # M-SEARCH: a control point looking, not a device
        msg = ssdp.parse_response(payload)
        self._emit_all(ssdp.ssdp_evidence(msg, ip, module=MODULE, observed_at=ts, packet=number))
        port = ssdp.location_port(msg.location) if msg.location else None
        if port and port not in self.tcp_ports and len(self.tcp_ports) < _MAX_TCP_PORTS:
            self.tcp_ports.add(port)

    def _wsd(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        msg = wsd.parse_message(payload)
        if msg.action in ("Probe", "Resolve"):
            return
        self._emit_all(wsd.wsd_evidence(msg, ip, module=MODULE, observed_at=ts, packet=number))

    def _sadp(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        if sadp.is_inquiry(payload):
            return
        reply = sadp.parse(payload)
        src = None if ip in _UNSPECIFIED else ip
        self._emit_all(sadp.sadp_evidence(reply, src, module=MODULE, observed_at=ts, packet=number))

    def _dahua(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        reply = dahua.parse(payload)  # searches (clients, scanners) raise ParseError
        src = None if ip in _UNSPECIFIED else ip
        self._emit_all(
            dahua.dahua_evidence(reply, src, module=MODULE, observed_at=ts, packet=number)
        )

    def _vendor(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        """Other vendors' discovery answers (Hanwha, Bosch, Ubiquiti ...); inquiries (from
        scanners and vendor tools) are not claimed by any protocol and are skipped."""
        for proto in VENDOR_PORTS.get(port, ()):
            if not proto.claims(payload):
                continue
            reply = proto.parse(payload)
            src = None if ip in _UNSPECIFIED else ip
            self._emit_all(
                vendor_evidence(
                    reply, src, port=proto.port, module=MODULE, observed_at=ts, packet=number
                )
            )
            return

    def _mdns(self, number: int, ts: float, ip: str, port: int, payload: bytes) -> None:
        """The sender's address names the instances it describes (the link layer binds that
        one to the MAC); an A or AAAA record naming another address is not believed."""
        for svc in mdns_services(payload, source=ip):
            self._emit_all(
                mdns.mdns_evidence(
                    svc.instance,
                    [ip],
                    svc.txt,
                    svc.server,
                    module=MODULE,
                    observed_at=ts,
                    packet=number,
                )
            )

    # -- DNS ----------------------------------------------------------------------------
    def _dns_packet(
        self, number: int, ts: float, src: str, sport: int, dport: int, payload: bytes, skip: int
    ) -> None:
        """skip: bytes before the DNS message (TCP's 2-byte length prefix)."""
        if sport == 53:
            self._resolvers.add(src)  # answers DNS: its own queries may be forwarded ones
            return
        try:
            names = dns.query_names(payload[skip:])
        except ParseError as exc:
            self._failed("dns", number, exc)
            return
        for name in names:
            self._cloud_name(number, ts, src, name, None)

    def _cloud_name(self, number: int, ts: float, src: str, name: str, port: int | None) -> None:
        if dns.vendor_domain(name, self._domains) and (src, name) not in self._dns:
            if len(self._dns) < _MAX_DNS:
                self._dns[(src, name)] = (number, ts, self._source, port)

    # -- TCP ----------------------------------------------------------------------------
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
    ) -> None:
        if sport == 53 or dport == 53:
            if payload:
                self._dns_packet(number, ts, ip_text(src), sport, dport, payload, 2)
            return
        if sport not in self.tcp_ports:
            if payload and dport in self.tcp_ports:
                if httphead.is_request(payload):
                    self._request(src, dst, sport, dport, payload)
                elif payload[0] == 0x16 and (name := tls.client_hello_sni(payload)):
                    # connecting to a vendor cloud by name tells as much as looking it up,
                    # and shows even when the lookup was cached or not captured
                    self._cloud_name(number, ts, ip_text(src), name, dport)
            return
        if flags & _SYN_ACK == _SYN_ACK:
            self.emit(
                Evidence(
                    module=MODULE,
                    protocol="open_port",
                    value=f"{sport}/tcp",
                    ip=ip_text(src),
                    port=sport,
                    transport="tcp",
                    observed_at=ts,
                    packet=number,
                )
            )
        if sport in GREETING_PORTS and len(payload) == GREETING_SIZE:
            # a segment of exactly the greeting's size from a greeting port: the rule only
            # matches the greeting's exact bytes, so another message of that size is harmless
            ev = banner_evidence(sport, payload, ip_text(src), module=MODULE, observed_at=ts,
                                 packet=number)  # fmt: skip
            self._emit_all(ev)
            return
        key = (src, dst, sport, dport)
        if self.streams.segment(key, seq, flags, payload):
            return
        if not payload or payload[0] not in _ANSWER_STARTS:
            return  # most server segments: the middle of some answer (e.g. TLS app data)
        kind = self._kind(sport, payload)
        if kind is not None:
            request = self._requests.get(key)
            head_only = kind == "rtsp" or (request is not None and request[0] == "HEAD")
            self.streams.start(key, kind, seq, payload, number, ts, head_only)

    @staticmethod
    def _kind(port: int, payload: bytes) -> str | None:
        if payload.startswith(b"HTTP/1."):
            return "http"
        if payload.startswith(b"RTSP/1."):
            return "rtsp"
        if tls.is_tls_start(payload) and port not in RTSP_PORTS:
            return "tls"
        return None

    def _request(self, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> None:
        line = httphead.request_line(payload)
        if line is None:
            return
        key = (dst, src, dport, sport)
        self._requests[key] = line
        self._requests.move_to_end(key)
        if len(self._requests) > _MAX_REQUESTS:
            self._requests.popitem(last=False)

    def _complete(self, stream: Stream) -> bool:
        if stream.kind == "tls":
            return tls.leaf_certificate(bytes(stream.buf))[0] is not tls.Tls.MORE
        return httphead.complete(stream.buf, stream.head_only)

    def _stream_done(self, stream: Stream) -> None:
        try:
            self._read_stream(stream)
        except Exception as exc:  # noqa: BLE001 - one bad stream never ends the capture
            self._failed(stream.kind, stream.number, exc)

    def _read_stream(self, stream: Stream) -> None:
        server, _client, port, _cport = stream.key
        ip = ip_text(server)
        buf = bytes(stream.buf)
        common = {"module": MODULE, "observed_at": stream.ts, "packet": stream.number}
        if stream.kind == "tls":
            state, der = tls.leaf_certificate(buf)
            if der is not None:
                self._emit_all(cert_evidence(der, ip, port, **common))
        elif stream.kind == "rtsp":
            self._emit_all(rtsp_evidence(parse_rtsp(buf), ip, port, **common))
        else:
            request = self._requests.pop(stream.key, None)
            path = request[1] if request else _UNKNOWN_PATH
            status, headers, body_at = httphead.parse_head(buf)
            body = buf[body_at:]
            te = httphead.header_value(headers, "transfer-encoding") or ""
            if "chunked" in te.lower():
                body = httphead.dechunk(body)
            self._emit_all(http_evidence(status, headers, body, ip, port, path, **common))
            if status == 200 and _UPNP_MARK in body:
                desc = ssdp.parse_description(body)
                url = f"http://{url_host(ip, port)}{path}"
                self._emit_all(ssdp.upnp_evidence(desc, ip, port, url=url, **common))

    # -- end ----------------------------------------------------------------------------
    def finish(self) -> None:
        """The traffic ended: open streams, MAC candidates and vendor lookups are reported."""
        self.streams.flush()
        self.macs.finish()
        for (ip, name), (number, ts, source, port) in self._dns.items():
            if ip in self._resolvers:
                continue  # a resolver forwarding its clients' lookups (or connections)
            self.emit(
                Evidence(
                    module=MODULE,
                    protocol="dns_query",
                    value=name,
                    ip=ip,
                    port=port,
                    transport="tcp" if port else None,
                    source=source,
                    observed_at=ts,
                    packet=number,
                )
            )
        self._dns.clear()
