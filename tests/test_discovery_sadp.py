"""Hikvision SADP: the inquiry bytes, ProbeMatch parsing (also hostile XML), and the module
over UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import socket
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.sadp import SadpModule, build_inquiry, is_inquiry, parse, sadp_evidence
from camscan.discovery.udp import Listener
from camscan.errors import ParseError

# A reply shaped like the fields UniversalScanner documents for Hikvision (fingerprints.md).
REPLY = b"""<?xml version="1.0" encoding="UTF-8"?>
<ProbeMatch>
<Uuid>9F0E5D2A-7C41-4B3E-A1D2-0C5B3E7F9A11</Uuid>
<Types>inquiry</Types>
<DeviceType>139367</DeviceType>
<DeviceDescription>DS-2CD2143G0-I</DeviceDescription>
<DeviceSN>DS-2CD2143G0-I20190101AAWRC12345678</DeviceSN>
<CommandPort>8000</CommandPort>
<HttpPort>80</HttpPort>
<MAC>28-57-be-00-00-01</MAC>
<IPv4Address>198.18.0.2</IPv4Address>
<IPv4SubnetMask>255.255.255.0</IPv4SubnetMask>
<IPv4Gateway>198.18.0.254</IPv4Gateway>
<IPv6Address>::</IPv6Address>
<DHCP>false</DHCP>
<AnalogChannelNum>0</AnalogChannelNum>
<DigitalChannelNum>1</DigitalChannelNum>
<SoftwareVersion>V5.5.800build 210628</SoftwareVersion>
<DSPVersion>V7.3 build 210628</DSPVersion>
<BootTime>2025-10-30 18:02:55</BootTime>
<Activated>true</Activated>
<PasswordResetAbility>true</PasswordResetAbility>
<OEMInfo>LTS</OEMInfo>
</ProbeMatch>
"""

LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
]><ProbeMatch><DeviceDescription>&g;</DeviceDescription></ProbeMatch>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/shadow">]>
<ProbeMatch><DeviceDescription>&x;</DeviceDescription></ProbeMatch>"""


def test_inquiry_bytes() -> None:
    data = build_inquiry("9f0e5d2a-7c41-4b3e-a1d2-0c5b3e7f9a11")
    assert data == (
        b'<?xml version="1.0" encoding="utf-8"?><Probe>'
        b"<Uuid>9F0E5D2A-7C41-4B3E-A1D2-0C5B3E7F9A11</Uuid><Types>inquiry</Types></Probe>"
    )
    assert is_inquiry(data)
    assert not is_inquiry(REPLY)
    with pytest.raises(ParseError):
        parse(data)  # an inquiry is not a reply


def test_reply_fields_in_order() -> None:
    reply = parse(REPLY)
    keys = [k for k, _ in reply.pairs]
    assert keys[:5] == ["Uuid", "Types", "DeviceType", "DeviceDescription", "DeviceSN"]
    assert keys[-1] == "OEMInfo"
    assert reply.get("DeviceDescription") == "DS-2CD2143G0-I"
    assert reply.mac == "28:57:be:00:00:01"
    assert reply.ipv4 == "198.18.0.2"


def test_evidence() -> None:
    (ev,) = sadp_evidence(parse(REPLY), "198.18.0.2", observed_at=1.0, packet=3)
    assert ev.protocol == "sadp" and ev.module == "sadp"
    assert (ev.ip, ev.mac, ev.port, ev.transport) == (
        "198.18.0.2",
        "28:57:be:00:00:01",
        37020,
        "udp",
    )
    lines = ev.value.splitlines()
    assert lines[3] == "DeviceDescription=DS-2CD2143G0-I"
    assert "SoftwareVersion=V5.5.800build 210628" in lines
    assert "MAC=28-57-be-00-00-01" in lines  # the value keeps what the device said
    assert (ev.observed_at, ev.packet) == (1.0, 3)


def test_evidence_ip_falls_back_to_the_stated_address() -> None:
    (ev,) = sadp_evidence(parse(REPLY), None)
    assert ev.ip == "198.18.0.2"


def test_odd_but_readable_replies() -> None:
    reply = parse(
        b"<ProbeMatch><MAC>nonsense</MAC><IPv4Address>999.1.1.1</IPv4Address>"
        b"<Nested><X>1</X></Nested><!-- c --><DeviceDescription>  A\n  B </DeviceDescription>"
        b"</ProbeMatch>"
    )
    assert reply.mac is None and reply.ipv4 is None
    assert reply.pairs[-1] == ("DeviceDescription", "A B")
    assert all(k != "Nested" for k, _ in reply.pairs)


@pytest.mark.parametrize(
    "data",
    [b"", b"junk", b"<ProbeMatch/>", b"<Probe><Types>inquiry</Types></Probe>", b"<a>", b"\x00" * 9],
)
def test_garbage_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse(data)


@pytest.mark.timeout(5)
@pytest.mark.parametrize("bomb", [LAUGHS, XXE])
def test_xml_bombs_are_refused(bomb: bytes) -> None:
    with pytest.raises(ParseError):
        parse(bomb)


@given(st.binary(max_size=2048))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_reply_or_parse_error(data: bytes) -> None:
    try:
        reply = parse(data)
    except ParseError:
        return
    sadp_evidence(reply, "198.18.0.2")


@given(st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,12}", fullmatch=True), st.text()))
@settings(max_examples=200, deadline=None)
def test_any_field_values(fields: dict[str, str]) -> None:
    from xml.sax.saxutils import escape

    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    try:
        reply = parse(f"<ProbeMatch>{body}</ProbeMatch>".encode("utf-8", "surrogatepass"))
    except ParseError:
        return
    (ev,) = sadp_evidence(reply, "198.18.0.2")
    assert len(ev.value.splitlines()) <= len(reply.pairs)


# -- sockets on 127.0.0.1 -------------------------------------------------------------------
def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeHikvision(asyncio.DatagramProtocol):
    """Answers an inquiry with a ProbeMatch, to the sender or to a fixed port (as real units
    answer to the multicast group's port)."""

    def __init__(self, answer_to_port: int | None = None) -> None:
        self.answer_to_port = answer_to_port
        self.requests: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        uuid_ = re.search(rb"<Uuid>([^<]+)</Uuid>", data)
        reply = REPLY.replace(b"9F0E5D2A-7C41-4B3E-A1D2-0C5B3E7F9A11", uuid_.group(1))
        dest = (addr[0], self.answer_to_port) if self.answer_to_port else addr
        self.transport.sendto(reply, dest)  # type: ignore[attr-defined]
        self.transport.sendto(reply, dest)  # type: ignore[attr-defined]  # duplicates happen


def loopback_ctx() -> ScanContext:
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=ScanSettings(listen_window=0.4),
    )


async def run_against(device: FakeHikvision, module_kw: dict[str, object]) -> ScanContext:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: device, local_addr=("127.0.0.1", 0))
    try:
        ctx = loopback_ctx()
        dest = transport.get_extra_info("sockname")
        await SadpModule(destinations=[dest], **module_kw).run(ctx)  # type: ignore[arg-type]
        return ctx
    finally:
        transport.close()


async def test_module_sends_only_the_inquiry_and_reads_the_answer() -> None:
    device = FakeHikvision()
    ctx = await run_against(device, {})
    assert len(device.requests) == 1 and is_inquiry(device.requests[0])
    (ev,) = ctx.evidence
    assert ev.protocol == "sadp" and ev.ip == "127.0.0.1" and ev.mac == "28:57:be:00:00:01"
    assert ctx.warnings == []


async def test_answers_to_the_well_known_port_are_heard() -> None:
    port = free_udp_port()
    device = FakeHikvision(answer_to_port=port)
    ctx = await run_against(device, {"listeners": [Listener(port)]})
    assert [e.protocol for e in ctx.evidence] == ["sadp"]


async def test_without_the_listener_those_answers_are_missed() -> None:
    device = FakeHikvision(answer_to_port=free_udp_port())
    ctx = await run_against(device, {})
    assert ctx.evidence == []
