"""Vendor discovery protocols (Hanwha, Bosch, Ubiquiti, Vivotek, Foscam, Panasonic, Sony):
inquiry bytes, reply parsing on frames built from the public layouts, hostile input, and the
modules over UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.registry import _load
from camscan.discovery.vendor import (
    MODULES,
    FoscamModule,
    HanwhaModule,
    UbiquitiModule,
    VendorModule,
    VivotekModule,
)
from camscan.discovery.vendors import (
    all_protocols,
    bosch,
    foscam,
    hanwha,
    panasonic,
    sony,
    ubiquiti,
    vendor_evidence,
    vivotek,
)
from camscan.errors import ParseError


def field(text: str, size: int) -> bytes:
    raw = text.encode()
    return raw + bytes(size - len(raw))


def hanwha_answer(ip: str = "198.18.0.25", model: str = "XNO-6080R") -> bytes:
    """The layout the lab simulator sends (text fields at fixed offsets, BE16 ports)."""
    return (
        b"\x0b"
        + field("E4:30:22:00:25:25", 18)
        + field(ip, 16)
        + field("255.255.255.0", 16)
        + field("198.18.0.254", 16)
        + struct.pack(">HH", 80, 4520)
        + field(model, 32)
        + field(f"http://{ip}/index.htm", 64)
    )


def hanwha_other_layout() -> bytes:
    """Same fields at other offsets (an extra password field, LE ports): read by strings."""
    return (
        b"\x0b"
        + field("e4:30:22:00:25:25", 18)
        + field("198.18.0.25", 16)
        + field("255.255.255.0", 16)
        + field("198.18.0.254", 16)
        + bytes(20)
        + struct.pack("<HHH", 4520, 80, 4520)
        + field("XNO-6080R", 32)
        + field("http://198.18.0.25/index.htm", 64)
    )


def ubiquiti_answer() -> bytes:
    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack(">BH", kind, len(value)) + value

    mac = bytes.fromhex("245a4c112828")
    body = (
        tlv(0x02, mac + socket.inet_aton("198.18.0.28"))
        + tlv(0x01, mac)
        + tlv(0x0A, struct.pack(">I", 3600))
        + tlv(0x0B, b"G4 Bullet Lobby")
        + tlv(0x0C, b"UVC G4 Bullet")
        + tlv(0x03, b"UVC.S2L.v4.59.32.67.0d3e3d7.230310.1135")
        + tlv(0x14, b"UVC-G4-Bullet")
        + tlv(0x99, b"unknown type")
    )
    return struct.pack(">BBH", 1, 0, len(body)) + body


def bosch_binary() -> bytes:
    return (
        struct.pack(">II", bosch.ANSWER_MAGIC, 0x1234)
        + bytes.fromhex("0004633f2626")
        + socket.inet_aton("198.18.0.26")
        + socket.inet_aton("255.255.255.0")
        + socket.inet_aton("198.18.0.254")
        + b"NDE-8502-R\x00FLEXIDOME IP starlight 8000i\x007.80.0128\x00"
    )


def bosch_fixed_width() -> bytes:
    """The lab simulator's layout: unit name and firmware in 32-byte NUL-padded fields."""
    return bosch_binary()[:26] + field("NDE-8502-R", 32) + field("7.80.0128", 32)


BOSCH_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<device><friendlyName>Lobby dome</friendlyName><unitName>FLEXIDOME IP 8000i</unitName>
<macAddress>00-04-63-3F-26-26</macAddress><ipAddress>198.18.0.26</ipAddress>
<serialNumber>404754301012345678</serialNumber><firmwareVersion>7.80.0128</firmwareVersion>
</device>"""


def vivotek_answer() -> bytes:
    return (
        struct.pack(">I", vivotek.MAGIC)
        + b"\x00\x01"
        + bytes.fromhex("0002d1aabbcc")
        + b"FD9167-HT\x00FD9167-VVTK-0110a\x00Lobby\x00"
    )


def foscam_answer(op: int = 1) -> bytes:
    body = (
        field("00626E4A5B2C", 13)
        + field("Front door", 21)
        + socket.inet_aton("198.18.0.30")
        + socket.inet_aton("255.255.255.0")
        + socket.inet_aton("198.18.0.254")
        + socket.inet_aton("198.18.0.53")
        + bytes(4)
        + bytes([2, 11, 1, 7])
        + bytes([2, 4, 10, 2])
        + struct.pack(">H", 88)
        + b"\x01"
    )
    return struct.pack("<4sHx8xI4x", b"MO_I", op, len(body)) + body


def panasonic_answer() -> bytes:
    return (
        panasonic.HEADER
        + bytes(8)
        + bytes.fromhex("d42dc5010203")
        + b"WV-S1131\x00198.18.0.31\x00255.255.255.0\x00198.18.0.254\x00Entrance\x00"
    )


SONY_ANSWER = (
    b"\x02MAC:08:00:46:12:34:56\r\nMODEL:SNC-VB600\r\nSERIAL:1234567\r\n"
    b"IPADR:198.18.0.32\r\nWEBPORT:80\r\nNAME:Loading bay\r\n\x03"
)


# -- inquiries -----------------------------------------------------------------------------
def test_inquiries() -> None:
    assert hanwha.build()[0] == 0x01 and not any(hanwha.build()[1:])
    assert bosch.build(transaction=7)[:8] == bytes.fromhex("ff0006de00000007")
    assert ubiquiti.build() == b"\x01\x00\x00\x00"
    assert vivotek.build()[:4] == bytes.fromhex("4a5d8f1c")
    assert foscam.build()[:6] == b"MO_I\x00\x00" and len(foscam.build()) == 27
    assert panasonic.build()[:4] == b"\x00\x01\x00\x00"
    assert sony.build() == b"\x02\x03"
    for proto in all_protocols():
        inquiry = proto.build()
        assert not proto.claims(inquiry), proto.name  # our own inquiry is never an answer
        with pytest.raises(ParseError):
            proto.parse(inquiry)


def test_module_names_and_registry_entries() -> None:
    assert list(MODULES) == [
        "hanwha",
        "bosch",
        "ubiquiti",
        "vivotek",
        "foscam",
        "panasonic",
        "sony",
    ]
    for name, spec in MODULES.items():
        module = _load(spec)()
        assert module.name == name == module.protocol.name


# -- parsers -------------------------------------------------------------------------------
def pairs_of(reply: object) -> dict[str, str]:
    return dict(reply.pairs)  # type: ignore[attr-defined]


def test_hanwha() -> None:
    reply = hanwha.parse(hanwha_answer())
    p = pairs_of(reply)
    assert reply.vendor == "Hanwha Vision"
    assert (p["model"], p["mac"], p["ip"], p["mask"], p["gateway"]) == (
        "XNO-6080R",
        "e4:30:22:00:25:25",
        "198.18.0.25",
        "255.255.255.0",
        "198.18.0.254",
    )
    assert (p["http_port"], p["device_port"]) == ("80", "4520")
    assert p["url"] == "http://198.18.0.25/index.htm"
    (ev,) = vendor_evidence(reply, "198.18.0.25", port=7701, module="hanwha")
    assert ev.value.splitlines()[:3] == [
        "vendor=Hanwha Vision",
        "model=XNO-6080R",
        "mac=e4:30:22:00:25:25",
    ]
    assert (ev.protocol, ev.mac, ev.port, ev.transport) == (
        "vendor_discovery",
        "e4:30:22:00:25:25",
        7701,
        "udp",
    )


def test_hanwha_other_layout_is_read_by_its_strings() -> None:
    p = pairs_of(hanwha.parse(hanwha_other_layout()))
    assert (p["model"], p["mac"], p["ip"], p["mask"], p["gateway"], p["url"]) == (
        "XNO-6080R",
        "e4:30:22:00:25:25",
        "198.18.0.25",
        "255.255.255.0",
        "198.18.0.254",
        "http://198.18.0.25/index.htm",
    )


def test_ubiquiti() -> None:
    reply = ubiquiti.parse(ubiquiti_answer())
    p = pairs_of(reply)
    assert reply.mac == "24:5a:4c:11:28:28" and reply.ipv4 == "198.18.0.28"
    assert p["model"] == "UVC-G4-Bullet" and p["model_short"] == "UVC G4 Bullet"
    assert p["firmware"].startswith("UVC.S2L.v4.59") and p["name"] == "G4 Bullet Lobby"
    assert p["uptime"] == "3600"
    keys = [k for k, _ in reply.pairs]
    assert keys[:5] == ["model", "mac", "firmware", "name", "ip"]


def test_ubiquiti_short_model_stands_in() -> None:
    body = struct.pack(">BH", 0x0C, 6) + b"AirCam"
    reply = ubiquiti.parse(struct.pack(">BBH", 1, 0, len(body)) + body)
    assert reply.get("model") == "AirCam"


def test_bosch_binary_and_xml() -> None:
    p = pairs_of(bosch.parse(bosch_binary()))
    assert (p["model"], p["mac"], p["firmware"], p["ip"]) == (
        "NDE-8502-R",
        "00:04:63:3f:26:26",
        "7.80.0128",
        "198.18.0.26",
    )
    assert p["name"] == "FLEXIDOME IP starlight 8000i"
    p = pairs_of(bosch.parse(bosch_fixed_width()))
    assert (p["model"], p["firmware"], p["mac"]) == ("NDE-8502-R", "7.80.0128", "00:04:63:3f:26:26")
    reply = bosch.parse(BOSCH_XML)
    assert reply.mac == "00:04:63:3f:26:26" and reply.ipv4 == "198.18.0.26"
    assert reply.get("serial") == "404754301012345678" and reply.get("firmware") == "7.80.0128"
    assert [v for k, v in reply.pairs if k == "name"] == ["Lobby dome", "FLEXIDOME IP 8000i"]


def test_vivotek() -> None:
    reply = vivotek.parse(vivotek_answer())
    assert reply.mac == "00:02:d1:aa:bb:cc"
    assert reply.get("model") == "FD9167-HT" and reply.get("firmware") == "FD9167-VVTK-0110a"
    assert reply.get("text") == "Lobby"


def test_foscam() -> None:
    reply = foscam.parse(foscam_answer())
    p = pairs_of(reply)
    assert reply.mac == "00:62:6e:4a:5b:2c" and reply.ipv4 == "198.18.0.30"
    assert (p["name"], p["firmware"], p["app_version"], p["http_port"]) == (
        "Front door",
        "2.11.1.7",
        "2.4.10.2",
        "88",
    )
    with pytest.raises(ParseError):
        foscam.parse(foscam_answer()[:40])  # ciphered/truncated


def test_panasonic() -> None:
    reply = panasonic.parse(panasonic_answer())
    assert reply.vendor == "Panasonic"
    assert reply.mac == "d4:2d:c5:01:02:03" and reply.ipv4 == "198.18.0.31"
    assert reply.get("model") == "WV-S1131" and reply.get("text") == "Entrance"


def test_sony() -> None:
    reply = sony.parse(SONY_ANSWER)
    p = pairs_of(reply)
    assert reply.mac == "08:00:46:12:34:56" and reply.ipv4 == "198.18.0.32"
    assert (p["model"], p["serial"], p["http_port"], p["name"]) == (
        "SNC-VB600",
        "1234567",
        "80",
        "Loading bay",
    )


def test_vivotek_and_foscam_share_a_port_without_confusion() -> None:
    assert vivotek.PROTOCOL.claims(vivotek_answer()) and not foscam.PROTOCOL.claims(
        vivotek_answer()
    )
    assert foscam.PROTOCOL.claims(foscam_answer()) and not vivotek.PROTOCOL.claims(foscam_answer())


@pytest.mark.parametrize("proto", all_protocols(), ids=lambda p: p.name)
@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\xff" * 300, b"\x0b" + bytes(300), b"MO_I" + bytes(30), b"\x01\x00\xff\xff"],
)
def test_garbage_is_a_parse_error(proto: object, data: bytes) -> None:
    with pytest.raises(ParseError):
        proto.parse(data)  # type: ignore[attr-defined]


@pytest.mark.timeout(5)
def test_bosch_xml_bombs() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        b"]><device><unitName>&c;</unitName></device>"
    )
    xxe = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><device><unitName>&x;</unitName></device>'
    for bomb in (laughs, xxe):
        with pytest.raises(ParseError):
            bosch.parse(bomb)


@given(st.binary(max_size=1024))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_reply_or_parse_error(data: bytes) -> None:
    prefixes = (
        b"",
        b"\x0b",
        b"\x01\x00",
        struct.pack(">I", bosch.ANSWER_MAGIC),
        struct.pack(">I", vivotek.MAGIC),
        b"MO_I\x01\x00",
        b"\x00\x01\x00\x00",
        b"\x02MAC:",
    )
    for proto in all_protocols():
        for prefix in prefixes:
            try:
                reply = proto.parse(prefix + data)
            except ParseError:
                continue
            (ev,) = vendor_evidence(reply, "198.18.0.1", port=proto.port, module=proto.name)
            assert ev.value.startswith(f"vendor={proto.vendor}")
            assert reply.mac is None or len(reply.mac) == 17


# -- sockets on 127.0.0.1 -------------------------------------------------------------------
class Responder(asyncio.DatagramProtocol):
    def __init__(self, answer: bytes, to_port: int | None = None) -> None:
        self.answer, self.to_port = answer, to_port
        self.requests: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        dest = (addr[0], self.to_port) if self.to_port else addr
        self.transport.sendto(self.answer, dest)  # type: ignore[attr-defined]


async def run_module(module_for: object, responder: Responder) -> ScanContext:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: responder, local_addr=("127.0.0.1", 0)
    )
    try:
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.0/8")],
            interface=None,
            local_ip="127.0.0.1",
            settings=ScanSettings(listen_window=0.4),
        )
        module: VendorModule = module_for(transport.get_extra_info("sockname"))  # type: ignore[operator]
        await module.run(ctx)
        return ctx
    finally:
        transport.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ubiquiti_module() -> None:
    responder = Responder(ubiquiti_answer())
    ctx = await run_module(lambda dest: UbiquitiModule(destinations=[dest]), responder)
    assert responder.requests == [b"\x01\x00\x00\x00"]
    (ev,) = ctx.evidence
    assert ev.module == "ubiquiti" and ev.ip == "127.0.0.1" and ev.mac == "24:5a:4c:11:28:28"
    assert ev.port == 10001 and ev.value.startswith("vendor=Ubiquiti\nmodel=UVC-G4-Bullet")


async def test_hanwha_answers_to_its_reply_port() -> None:
    reply_port = free_udp_port()
    responder = Responder(hanwha_answer(ip="127.0.0.1"), to_port=reply_port)
    ctx = await run_module(
        lambda dest: HanwhaModule(destinations=[dest], bind_port=reply_port), responder
    )
    assert len(responder.requests) == 1 and responder.requests[0][0] == 0x01
    (ev,) = ctx.evidence
    assert ev.module == "hanwha" and ev.port == 7701 and "model=XNO-6080R" in ev.value


async def test_the_other_vendor_on_port_10000_is_ignored_quietly() -> None:
    responder = Responder(foscam_answer())
    ctx = await run_module(lambda dest: VivotekModule(destinations=[dest]), responder)
    assert ctx.evidence == [] and ctx.warnings == []
    ctx = await run_module(lambda dest: FoscamModule(destinations=[dest]), responder)
    assert [e.module for e in ctx.evidence] == ["foscam"]


async def test_broken_answers_warn() -> None:
    responder = Responder(b"\x0b" + bytes(100))  # Hanwha type byte, nothing inside
    ctx = await run_module(lambda dest: HanwhaModule(destinations=[dest]), responder)
    assert ctx.evidence == []
    assert len(ctx.warnings) == 1 and ctx.warnings[0].startswith("hanwha: unreadable answer")


def test_default_destinations() -> None:
    ctx = ScanContext(
        targets=[IPv4Network("198.18.0.0/24")],
        interface=None,
        local_ip="198.18.0.1",
        attached=[IPv4Network("198.18.0.0/24")],
    )
    assert UbiquitiModule()._destinations(ctx) == [("198.18.0.255", 10001), ("233.89.188.1", 10001)]
    assert HanwhaModule()._destinations(ctx) == [("198.18.0.255", 7701)]
    assert HanwhaModule().bind_port == 7711
    assert HanwhaModule(destinations=[("127.0.0.1", 1)]).bind_port == 0
