"""WS-Discovery: probe building, message parsing (also hostile XML), and the module over real
UDP sockets on 127.0.0.1 (the multicast path is exercised in the lab)."""

from __future__ import annotations

import asyncio
import re
import uuid
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.wsd import (
    MAX_ENDPOINTS_PER_IP,
    WsdModule,
    WsdUnicastModule,
    build_probe,
    parse_message,
    wsd_evidence,
    xaddr_hints,
)
from camscan.errors import ParseError

ENV = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
)


def probe_match(ip: str, relates_to: str, endpoint: str | None = None, port: int = 80) -> bytes:
    endpoint = endpoint or f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_DNS, ip)}"
    return (
        f"{ENV}<SOAP-ENV:Header><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"<wsa:RelatesTo>{relates_to}</wsa:RelatesTo>"
        "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>"
        "</SOAP-ENV:Header><SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>{endpoint}</wsa:Address></wsa:EndpointReference>"
        "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
        "<d:Scopes>onvif://www.onvif.org/type/video_encoder "
        "onvif://www.onvif.org/hardware/DS-2CD2143G0-I onvif://www.onvif.org/name/HIKVISION"
        "</d:Scopes>"
        f"<d:XAddrs>http://{ip}:{port}/onvif/device_service http://[fe80::1]/onvif/device_service"
        "</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


# WS-DD 1.1 (2009/01) Hello with Dahua-style scopes, default namespaces, no prefixes.
HELLO_2009 = b"""<?xml version="1.0" encoding="utf-8"?>
<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope">
 <Header>
  <MessageID xmlns="http://www.w3.org/2005/08/addressing">urn:uuid:11111111-2222-3333-4444-555555555555</MessageID>
  <Action xmlns="http://www.w3.org/2005/08/addressing">http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/Hello</Action>
 </Header>
 <Body>
  <Hello xmlns="http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01">
   <EndpointReference xmlns="http://www.w3.org/2005/08/addressing"><Address>uuid:d0d0d0d0-0000-1111-2222-3cef8c1b1919</Address></EndpointReference>
   <Types xmlns:dn="http://www.onvif.org/ver10/network/wsdl">dn:NetworkVideoTransmitter</Types>
   <Scopes>
     onvif://www.onvif.org/name/Dahua
     onvif://www.onvif.org/hardware/IPC-HFW2228M-I1-V2
     onvif://www.onvif.org/location/country/china
   </Scopes>
   <XAddrs>http://198.18.0.19/onvif/device_service</XAddrs>
   <MetadataVersion>1</MetadataVersion>
  </Hello>
 </Body>
</Envelope>"""

BYE = (
    f"{ENV}<SOAP-ENV:Header><wsa:MessageID>urn:uuid:1</wsa:MessageID></SOAP-ENV:Header>"
    "<SOAP-ENV:Body><d:Bye><wsa:EndpointReference><wsa:Address>urn:uuid:abc</wsa:Address>"
    "</wsa:EndpointReference></d:Bye></SOAP-ENV:Body></SOAP-ENV:Envelope>"
).encode()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Envelope><Body><Hello><Scopes>&lol9;</Scopes></Hello></Body></Envelope>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Envelope><Body><Hello><Scopes>&x;</Scopes></Hello></Body></Envelope>"""


def ctx_for_loopback(**overrides: float) -> ScanContext:
    settings_ = ScanSettings(listen_window=0.4, io_timeout=1.0)
    for key, value in overrides.items():
        setattr(settings_, key, value)
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=settings_,
        attached=[],  # nothing on-link: the unicast module probes 127.0.0.1
    )


# -- building ---------------------------------------------------------------------------
def test_probe_round_trips_through_the_parser() -> None:
    msg = parse_message(build_probe("0f1e2d3c-0000-4000-8000-000000000001"))
    assert msg.action == "Probe"
    assert msg.message_id == "urn:uuid:0f1e2d3c-0000-4000-8000-000000000001"
    assert msg.matches == []
    typed = build_probe("x")
    assert b"<d:Types>dn:NetworkVideoTransmitter</d:Types>" in typed
    assert b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"' in typed
    assert b"Types" not in build_probe("x", types="")


def test_probe_escapes_its_inputs() -> None:
    data = build_probe("<evil>&", types="dn:A<B")
    assert b"<evil>" not in data and b"&lt;evil&gt;&amp;" in data


# -- parsing ----------------------------------------------------------------------------
def test_probe_match_fields() -> None:
    msg = parse_message(probe_match("198.18.0.2", "urn:uuid:rel", port=8899))
    assert msg.action == "ProbeMatches"
    assert msg.relates_to == "urn:uuid:rel"
    assert msg.endpoint == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_DNS, '198.18.0.2')}"
    assert msg.types == ["NetworkVideoTransmitter", "Device"]
    assert msg.scopes[1] == "onvif://www.onvif.org/hardware/DS-2CD2143G0-I"
    assert msg.xaddrs[0] == "http://198.18.0.2:8899/onvif/device_service"
    assert msg.metadata_version == "10"
    assert xaddr_hints(msg, "198.18.0.2") == ["http://198.18.0.2:8899/onvif/device_service"]
    assert xaddr_hints(msg, "198.18.0.3") == []


def test_hello_in_ws_dd_1_1_with_default_namespaces() -> None:
    msg = parse_message(HELLO_2009)
    assert msg.action == "Hello"
    assert msg.endpoint == "uuid:d0d0d0d0-0000-1111-2222-3cef8c1b1919"
    assert msg.scopes == [
        "onvif://www.onvif.org/name/Dahua",
        "onvif://www.onvif.org/hardware/IPC-HFW2228M-I1-V2",
        "onvif://www.onvif.org/location/country/china",
    ]
    assert msg.types == ["NetworkVideoTransmitter"]


def test_bye_has_an_endpoint_and_no_evidence() -> None:
    msg = parse_message(BYE)
    assert msg.action == "Bye" and msg.endpoint == "urn:uuid:abc"
    assert wsd_evidence(msg, "198.18.0.9") == []


def test_evidence_values() -> None:
    msg = parse_message(probe_match("198.18.0.2", "r"))
    evs = wsd_evidence(msg, "198.18.0.2", observed_at=5.0, packet=7)
    assert [(e.protocol, e.value) for e in evs] == [
        ("wsd_types", "NetworkVideoTransmitter Device"),
        (
            "wsd_scopes",
            "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/"
            "DS-2CD2143G0-I onvif://www.onvif.org/name/HIKVISION",
        ),
    ]
    for e in evs:
        assert (e.ip, e.port, e.transport, e.module) == ("198.18.0.2", 3702, "udp", "wsd")
        assert (e.observed_at, e.packet) == (5.0, 7)
        assert e.source == "http://198.18.0.2:80/onvif/device_service"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"not xml at all",
        b"<a><b></a>",
        b"<root/>",
        b"<Envelope><Header/></Envelope>",
        b"<Envelope><Body><Other/></Body></Envelope>",
        b"\xff\xfe<\x00E\x00",
        b'<?xml version="1.0" encoding="klingon"?><Envelope/>',
        b"<Envelope>" + b"\xc3\x28" + b"</Envelope>",
        b"<" * 70000,
    ],
)
def test_garbage_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(data)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, XXE])
def test_xml_bombs_are_refused(bomb: bytes) -> None:
    with pytest.raises(ParseError):
        parse_message(bomb)


def test_deeply_nested_xml_is_bounded() -> None:
    data = b"<Envelope><Body>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</Body></Envelope>"
    with pytest.raises(ParseError):
        parse_message(data)


@given(st.binary(max_size=2048))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_message_or_parse_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except ParseError:
        return
    wsd_evidence(msg, "198.18.0.1")


@given(st.text(max_size=200), st.sampled_from(["Types", "Scopes", "XAddrs", "Address"]))
@settings(max_examples=200, deadline=None)
def test_any_field_text_is_safe(value: str, field: str) -> None:
    data = probe_match("198.18.0.2", "r").decode()
    tag = {"Types": "d:Types", "Scopes": "d:Scopes", "XAddrs": "d:XAddrs"}.get(field, "wsa:Address")
    data = re.sub(f"<{tag}>[^<]*</{tag}>", lambda _: f"<{tag}>{value}</{tag}>", data)
    try:
        msg = parse_message(data.encode("utf-8", "surrogatepass"))
    except ParseError:
        return
    for ev in wsd_evidence(msg, "198.18.0.2"):
        assert ev.value and "\n" not in ev.value


# -- sockets on 127.0.0.1 -------------------------------------------------------------------
class FakeDevice(asyncio.DatagramProtocol):
    """Answers each Probe with ProbeMatches, like an ONVIF camera (unicast, to the sender)."""

    def __init__(self, answers: int = 1, distinct: bool = False) -> None:
        self.answers = answers
        self.distinct = distinct
        self.probes: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.probes.append(data)
        m = re.search(rb"MessageID>([^<]+)<", data)
        rel = m.group(1).decode() if m else ""
        for _ in range(self.answers):
            endpoint = f"urn:uuid:{uuid.uuid4()}" if self.distinct else None
            assert self.transport is not None
            self.transport.sendto(probe_match("127.0.0.1", rel, endpoint), addr)


async def start_device(**kw: object) -> tuple[asyncio.DatagramTransport, FakeDevice, int]:
    loop = asyncio.get_running_loop()
    device = FakeDevice(**kw)  # type: ignore[arg-type]
    transport, _ = await loop.create_datagram_endpoint(lambda: device, local_addr=("127.0.0.1", 0))
    return transport, device, transport.get_extra_info("sockname")[1]


async def test_module_finds_the_device_once_and_hints_its_xaddr() -> None:
    transport, device, port = await start_device()
    try:
        ctx = ctx_for_loopback()
        await WsdModule(destinations=[("127.0.0.1", port)]).run(ctx)
    finally:
        transport.close()
    # two probe kinds, each repeated with the same MessageID
    assert len(device.probes) == 4
    assert len({re.search(rb"MessageID>([^<]+)<", p).group(1) for p in device.probes}) == 2
    protocols = sorted(e.protocol for e in ctx.evidence)
    assert protocols == ["wsd_scopes", "wsd_types"]  # deduped by (ip, endpoint)
    assert all(e.ip == "127.0.0.1" and e.port == 3702 for e in ctx.evidence)
    assert ctx.hints("127.0.0.1", "onvif_xaddr") == ["http://127.0.0.1:80/onvif/device_service"]
    assert ctx.warnings == []


async def test_hostile_device_with_many_endpoints_is_capped() -> None:
    transport, _, port = await start_device(answers=500, distinct=True)
    try:
        ctx = ctx_for_loopback()
        await WsdModule(destinations=[("127.0.0.1", port)]).run(ctx)
    finally:
        transport.close()
    types = [e for e in ctx.evidence if e.protocol == "wsd_types"]
    assert len(types) == MAX_ENDPOINTS_PER_IP
    assert any("more than" in w for w in ctx.warnings)


async def test_out_of_scope_answers_are_ignored() -> None:
    transport, _, port = await start_device()
    try:
        ctx = ScanContext(
            targets=[IPv4Network("198.18.0.0/24")],
            interface=None,
            local_ip="127.0.0.1",
            settings=ScanSettings(listen_window=0.3),
        )
        await WsdModule(destinations=[("127.0.0.1", port)]).run(ctx)
    finally:
        transport.close()
    assert ctx.evidence == []


async def test_garbage_answers_warn_once() -> None:
    loop = asyncio.get_running_loop()

    class Junk(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.t.sendto(b"<Envelope><Body><ProbeMatches>", addr)  # type: ignore[attr-defined]

    transport, _ = await loop.create_datagram_endpoint(Junk, local_addr=("127.0.0.1", 0))
    try:
        ctx = ctx_for_loopback()
        await WsdModule(destinations=[transport.get_extra_info("sockname")]).run(ctx)
    finally:
        transport.close()
    assert ctx.evidence == []
    assert len(ctx.warnings) == 1 and "unreadable" in ctx.warnings[0]


async def test_unicast_probe_for_an_off_link_host() -> None:
    transport, device, port = await start_device()
    try:
        ctx = ctx_for_loopback()
        await WsdUnicastModule(port=port).probe(ctx, "127.0.0.1", {80})
    finally:
        transport.close()
    assert len(device.probes) == 2
    assert sorted(e.protocol for e in ctx.evidence) == ["wsd_scopes", "wsd_types"]


async def test_unicast_probe_skips_on_link_hosts() -> None:
    transport, device, port = await start_device()
    try:
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.0/8")],
            interface=None,
            local_ip="127.0.0.1",
            attached=[IPv4Network("127.0.0.0/8")],
        )
        await WsdUnicastModule(port=port).probe(ctx, "127.0.0.1", {80})
    finally:
        transport.close()
    assert device.probes == [] and ctx.evidence == []
