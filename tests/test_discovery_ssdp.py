"""SSDP / UPnP: M-SEARCH bytes, response and description parsing (also hostile XML), and the
module over UDP + HTTP on 127.0.0.1, including the rule that LOCATION is fetched only from the
address that answered."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.ssdp import (
    SsdpModule,
    build_msearch,
    parse_description,
    parse_response,
    ssdp_evidence,
    upnp_evidence,
    upnp_model,
)
from camscan.errors import ParseError

AXIS_SERVER = "Linux/4.9.206-axis8, UPnP/1.0, Portable SDK for UPnP devices/1.8.7"

DESCRIPTION = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <device>
    <deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
    <friendlyName>AXIS M3106-L Mk II - ACCC8E000001</friendlyName>
    <manufacturer>AXIS</manufacturer>
    <manufacturerURL>http://www.axis.com/</manufacturerURL>
    <modelDescription>AXIS M3106-L Mk II Network Camera</modelDescription>
    <modelName>AXIS M3106-L Mk II</modelName>
    <modelNumber>M3106-L Mk II</modelNumber>
    <serialNumber>ACCC8E000001</serialNumber>
    <UDN>uuid:Upnp-BasicDevice-1_0-ACCC8E000001</UDN>
    <presentationURL>http://198.18.0.24:80/</presentationURL>
    <serviceList><service><serviceType>x</serviceType></service></serviceList>
  </device>
</root>"""


def response(location: str, usn: str = "uuid:Upnp-BasicDevice-1_0-ACCC8E000001") -> bytes:
    return (
        "HTTP/1.1 200 OK\r\n"
        "CACHE-CONTROL: max-age=1800\r\n"
        "EXT:\r\n"
        f"LOCATION: {location}\r\n"
        f"SERVER: {AXIS_SERVER}\r\n"
        "ST: upnp:rootdevice\r\n"
        f"USN: {usn}::upnp:rootdevice\r\n"
        "\r\n"
    ).encode()


def test_msearch_bytes() -> None:
    data = build_msearch("upnp:rootdevice", mx=2)
    assert data.startswith(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n")
    assert b'\r\nMAN: "ssdp:discover"\r\n' in data and b"\r\nMX: 2\r\n" in data
    assert b"\r\nST: upnp:rootdevice\r\n" in data and data.endswith(b"\r\n\r\n")
    assert parse_response(data).kind == "msearch"
    assert ssdp_evidence(parse_response(data), "198.18.0.1") == []


def test_response_headers_are_case_insensitive() -> None:
    msg = parse_response(
        response("http://198.18.0.24:49152/rootdesc1.xml").replace(b"SERVER", b"Server")
    )
    assert msg.kind == "response"
    assert msg.server == AXIS_SERVER
    assert msg.location == "http://198.18.0.24:49152/rootdesc1.xml"
    assert msg.st == "upnp:rootdevice"
    assert msg.header("Cache-Control") == "max-age=1800"
    assert msg.usn and msg.usn.startswith("uuid:")


def test_notify_with_bare_newlines() -> None:
    msg = parse_response(
        b"NOTIFY * HTTP/1.1\nHOST: 239.255.255.250:1900\nNT: upnp:rootdevice\n"
        b"NTS: ssdp:alive\nSERVER: Linux/3.0, UPnP/1.0, Everest/1.0\nLOCATION: http://x/\n\n"
    )
    assert (msg.kind, msg.nt, msg.server) == (
        "notify",
        "upnp:rootdevice",
        "Linux/3.0, UPnP/1.0, Everest/1.0",
    )


def test_ssdp_evidence() -> None:
    msg = parse_response(response("http://198.18.0.24:49152/rootdesc1.xml"))
    (ev,) = ssdp_evidence(msg, "198.18.0.24")
    assert (ev.protocol, ev.value, ev.port, ev.transport) == (
        "ssdp_server",
        AXIS_SERVER,
        1900,
        "udp",
    )
    assert ev.source == "http://198.18.0.24:49152/rootdesc1.xml"


def test_description_and_evidence() -> None:
    desc = parse_description(DESCRIPTION)
    assert desc.manufacturer == "AXIS" and desc.model_name == "AXIS M3106-L Mk II"
    assert desc.model_number == "M3106-L Mk II" and desc.serial_number == "ACCC8E000001"
    assert desc.udn == "uuid:Upnp-BasicDevice-1_0-ACCC8E000001"
    evs = upnp_evidence(desc, "198.18.0.24", 49152, url="http://198.18.0.24:49152/d.xml")
    by = {e.protocol: e for e in evs}
    assert by["upnp_manufacturer"].value == "AXIS"
    assert by["upnp_model"].value == "AXIS M3106-L Mk II"  # modelNumber adds nothing here
    lines = by["upnp_device"].value.splitlines()
    assert lines[0] == "deviceType=urn:schemas-upnp-org:device:Basic:1"
    assert "serialNumber=ACCC8E000001" in lines and "modelNumber=M3106-L Mk II" in lines
    assert all(e.port == 49152 and e.transport == "tcp" for e in evs)


def test_model_number_is_appended_when_it_adds_information() -> None:
    desc = parse_description(
        b"<root><device><modelName>Network Camera</modelName><modelNumber>DS-2CD2143G0-I"
        b"</modelNumber></device></root>"
    )
    by = {e.protocol: e.value for e in upnp_evidence(desc, "198.18.0.2", 80)}
    assert by["upnp_model"] == "Network Camera DS-2CD2143G0-I"
    assert "upnp_manufacturer" not in by
    nas = parse_description(
        b"<root><device><modelName>DS220+</modelName><modelNumber>DS220+ 7.2-64570"
        b"</modelNumber></device></root>"
    )
    assert upnp_model(nas) == "DS220+ 7.2-64570"


@pytest.mark.parametrize(
    "data",
    [b"", b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found\r\n\r\n", b"\xff" * 40, b"x" * 70000],
)
def test_bad_messages(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_response(data)


LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
]><root><device><manufacturer>&g;</manufacturer></device></root>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>
<root><device><manufacturer>&x;</manufacturer></device></root>"""


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "data",
    [
        LAUGHS,
        XXE,
        b"",
        b"<root/>",
        b"<root><device/></root>",
        b"<html><body>hi</body></html>",
        b"<root><device><manufacturer>x</manufacturer>",
        b"<root>" + b" " * (1024 * 1024 + 1) + b"</root>",
    ],
)
def test_bad_descriptions(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_description(data)


@given(st.binary(max_size=2048))
@settings(max_examples=300, deadline=None)
def test_any_bytes(data: bytes) -> None:
    for parser in (parse_response, parse_description):
        try:
            parser(data)
        except ParseError:
            pass
    try:
        msg = parse_response(b"HTTP/1.1 200 OK\r\n" + data)
    except ParseError:
        return
    ssdp_evidence(msg, "198.18.0.1")


# -- sockets on 127.0.0.1 -------------------------------------------------------------------
class HttpServer:
    """Serves one body at any path; counts requests."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(self.body)
        )
        writer.write(self.body)
        await writer.drain()
        writer.close()


class FakeUpnp(asyncio.DatagramProtocol):
    def __init__(self, location: str) -> None:
        self.location = location
        self.searches: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.searches.append(data)
        self.transport.sendto(response(self.location), addr)  # type: ignore[attr-defined]


async def scan(
    location_fmt: str, body: bytes, **settings_kw: int
) -> tuple[ScanContext, HttpServer, FakeUpnp]:
    loop = asyncio.get_running_loop()
    http = HttpServer(body)
    server = await asyncio.start_server(http.handle, "127.0.0.1", 0)
    http_port = server.sockets[0].getsockname()[1]
    device = FakeUpnp(location_fmt.format(port=http_port))
    transport, _ = await loop.create_datagram_endpoint(lambda: device, local_addr=("127.0.0.1", 0))
    try:
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.0/8")],
            interface=None,
            local_ip="127.0.0.1",
            settings=ScanSettings(listen_window=0.4, io_timeout=2.0, **settings_kw),
        )
        await SsdpModule(destinations=[transport.get_extra_info("sockname")]).run(ctx)
    finally:
        transport.close()
        server.close()
        await server.wait_closed()
    return ctx, http, device


async def test_module_reads_server_and_description() -> None:
    ctx, http, device = await scan("http://127.0.0.1:{port}/rootdesc1.xml", DESCRIPTION)
    assert len(device.searches) == 2
    assert {b"ST: ssdp:all" in s for s in device.searches} == {True, False}
    protocols = sorted(e.protocol for e in ctx.evidence)
    assert protocols == ["ssdp_server", "upnp_device", "upnp_manufacturer", "upnp_model"]
    assert len(http.requests) == 1 and http.requests[0].startswith(b"GET /rootdesc1.xml ")
    assert ctx.warnings == []


async def test_location_elsewhere_is_not_fetched() -> None:
    ctx, http, _ = await scan("http://127.0.0.2:{port}/rootdesc1.xml", DESCRIPTION)
    assert http.requests == []
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert any("not fetched" in w for w in ctx.warnings)


async def test_oversized_description_is_cut_off() -> None:
    body = DESCRIPTION.replace(b"<UDN>", b"<pad>" + b"x" * 5000 + b"</pad><UDN>")
    ctx, http, _ = await scan("http://127.0.0.1:{port}/d.xml", body, max_body=1024)
    assert len(http.requests) == 1
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert any("larger than 1024 bytes" in w for w in ctx.warnings)


async def test_unreachable_location_only_warns() -> None:
    ctx, _, _ = await scan("http://127.0.0.1:1/d.xml", DESCRIPTION)
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert any("description at http://127.0.0.1:1/d.xml" in w for w in ctx.warnings)
