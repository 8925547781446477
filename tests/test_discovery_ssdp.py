"""SSDP / UPnP: M-SEARCH bytes, response and description parsing (also hostile XML), and the
module over UDP + HTTP on 127.0.0.1, including the rule that LOCATION is fetched only from the
address that answered, and the one retry of a description fetch that found no connection."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.ssdp import (
    SsdpModule,
    build_msearch,
    description_client,
    fetch_description,
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
    """Serves one body at any path; counts connections and requests. The first `drop`
    connections are closed as soon as they are accepted, without a byte (a busy device)."""

    def __init__(self, body: bytes, *, drop: int = 0, status: int = 200) -> None:
        self.body, self.drop, self.status = body, drop, status
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.drop:
            writer.close()
            return
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (self.status, len(self.body))
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
    location_fmt: str, body: bytes | HttpServer, **settings_kw: int
) -> tuple[ScanContext, HttpServer, FakeUpnp]:
    loop = asyncio.get_running_loop()
    http = body if isinstance(body, HttpServer) else HttpServer(body)
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
        # The description server's port (and 1, never listening) count as web ports here.
        await SsdpModule(
            destinations=[transport.get_extra_info("sockname")], web_ports={http_port, 1}
        ).run(ctx)
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
    assert len(http.requests) == 1 and http.connections == 1  # a body problem: no retry
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert any("larger than 1024 bytes" in w for w in ctx.warnings)


async def test_unreachable_location_only_warns() -> None:
    ctx, _, _ = await scan("http://127.0.0.1:1/d.xml", DESCRIPTION)
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert any("description at http://127.0.0.1:1/d.xml" in w for w in ctx.warnings)


# -- one retry when the description fetch found no connection ---------------------------------
async def test_description_is_fetched_again_after_a_dropped_connection() -> None:
    ctx, http, _ = await scan("http://127.0.0.1:{port}/d.xml", HttpServer(DESCRIPTION, drop=1))
    assert http.connections == 2 and len(http.requests) == 1
    protocols = sorted(e.protocol for e in ctx.evidence)
    assert protocols == ["ssdp_server", "upnp_device", "upnp_manufacturer", "upnp_model"]
    assert ctx.warnings == [] and ctx.notes == {}


async def test_a_device_that_always_drops_costs_exactly_two_attempts() -> None:
    ctx, http, _ = await scan("http://127.0.0.1:{port}/d.xml", HttpServer(DESCRIPTION, drop=99))
    assert http.connections == 2 and http.requests == []
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert ctx.notes == {"127.0.0.1": ["UPnP description refused (RemoteProtocolError twice)"]}


async def test_an_http_error_status_is_not_retried() -> None:
    ctx, http, _ = await scan("http://127.0.0.1:{port}/d.xml", HttpServer(b"busy", status=503))
    assert http.connections == 1 and len(http.requests) == 1
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert any(w.endswith("/d.xml: HTTP 503") for w in ctx.warnings)


@pytest.fixture
def closed_port() -> Iterator[socket.socket]:
    """A TCP socket bound on 127.0.0.1 that does not listen (yet): connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


class RetryHook:
    """fetch_description's `pace`, which it awaits only before a retry: counts the retries
    and, with `serve`, makes `sock` serve it from then on (with `drain`, after taking out the
    connection that filled its accept queue)."""

    def __init__(
        self, sock: socket.socket, serve: HttpServer | None = None, drain: bool = False
    ) -> None:
        self.sock, self.serve, self.drain = sock, serve, drain
        self.calls = 0
        self.server: asyncio.Server | None = None

    async def __call__(self) -> None:
        self.calls += 1
        if self.drain:
            self.sock.accept()[0].close()
        if self.serve is not None:
            self.server = await asyncio.start_server(self.serve.handle, sock=self.sock)

    async def fetch(self, scheme: str = "http") -> bytes:
        url = f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}/d.xml"
        settings = ScanSettings(connect_timeout=0.3, io_timeout=5.0)
        try:
            async with description_client(settings) as client:
                return await fetch_description(client, url, 65536, settings.io_timeout, self)
        finally:
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()


def fill_accept_queue(sock: socket.socket) -> socket.socket:
    """Listen with a backlog of 0 and queue one connection: the kernel now drops every SYN to
    the port (a device too busy to accept), so a connect times out."""
    sock.listen(0)
    return socket.create_connection(sock.getsockname(), timeout=5)


async def test_a_refused_connection_is_tried_once_more(closed_port: socket.socket) -> None:
    http = HttpServer(DESCRIPTION)
    hook = RetryHook(closed_port, serve=http)
    assert await hook.fetch() == DESCRIPTION
    assert hook.calls == 1 and http.connections == 1


async def test_a_connect_timeout_on_a_full_accept_queue_is_tried_once_more(
    closed_port: socket.socket,
) -> None:
    filler = fill_accept_queue(closed_port)
    try:
        http = HttpServer(DESCRIPTION)
        hook = RetryHook(closed_port, serve=http, drain=True)
        assert await hook.fetch() == DESCRIPTION
        assert hook.calls == 1 and http.connections == 1
    finally:
        filler.close()


@pytest.mark.parametrize(("full", "reason"), [(False, "ConnectError"), (True, "ConnectTimeout")])
async def test_no_connection_twice_gives_up(
    closed_port: socket.socket, full: bool, reason: str
) -> None:
    filler = fill_accept_queue(closed_port) if full else None
    try:
        hook = RetryHook(closed_port)
        with pytest.raises(ParseError, match=f"^{reason} twice$"):
            await hook.fetch()
        assert hook.calls == 1
    finally:
        if filler is not None:
            filler.close()


async def test_a_failed_tls_handshake_is_not_retried(closed_port: socket.socket) -> None:
    connections = 0

    async def plain(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, sock=closed_port)
    try:
        hook = RetryHook(closed_port)
        with pytest.raises(ParseError, match="^ConnectError$"):
            await hook.fetch("https")
        assert hook.calls == 0 and connections == 1
    finally:
        server.close()
        await server.wait_closed()
