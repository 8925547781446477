"""onvif module: an emulated ONVIF device service on 127.0.0.1 that checks the WS-Security
digest itself; and the pure SOAP builders/parsers (defusedxml, hostile input)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import Credentials, ScanContext, ScanSettings
from camscan.discovery.onvif import (
    OnvifModule,
    SoapFault,
    build_get_device_information,
    endpoints,
    parse_device_information,
    parse_system_date_time,
)
from camscan.errors import ParseError

PASSWORD = "s3cr&t<pw>"
DEVICE_TIME = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)  # the device's clock is years off
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}


LOOPBACK = (IPv4Network("127.0.0.1/32"),)  # where the credentials may go


def make_ctx(credentials: Credentials | None = None, **overrides: object) -> ScanContext:
    s = ScanSettings(connect_timeout=1.0, io_timeout=2.0)
    for k, v in overrides.items():
        setattr(s, k, v)
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip="127.0.0.1",
        settings=s,
        credentials=credentials,
    )


def values(ctx: ScanContext, protocol: str) -> list[str]:
    return [e.value for e in ctx.evidence if e.protocol == protocol]


def envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><env:Envelope '
        'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" '
        'xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def date_time_answer(t: datetime) -> bytes:
    return envelope(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        f"<tt:UTCDateTime><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
        f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
        f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date></tt:UTCDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


DEVICE_INFO = envelope(
    "<tds:GetDeviceInformationResponse><tds:Manufacturer>HIKVISION</tds:Manufacturer>"
    "<tds:Model>DS-2CD2143G0-I</tds:Model><tds:FirmwareVersion>V5.5.0 build 170725"
    "</tds:FirmwareVersion><tds:SerialNumber>DS-2CD2143G0-I20170101AAWR123456789"
    "</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>"
)


def fault(subcode: str) -> bytes:
    return envelope(
        "<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
        f"<env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        "<env:Reason><env:Text xml:lang='en'>no</env:Text></env:Reason></env:Fault>"
    )


def digest_ok(request: bytes, password: str) -> tuple[bool, str]:
    """Server-side WS-Security check, written from the spec independently of the module."""
    root = ET.fromstring(request)
    token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
    if token is None:
        return False, ""
    nonce = base64.b64decode(token.findtext("wsse:Nonce", namespaces=NS))
    created = token.findtext("wsu:Created", namespaces=NS)
    sent = token.findtext("wsse:Password", namespaces=NS)
    expect = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    ).decode()
    return sent == expect and len(nonce) == 16, created


class OnvifDevice:
    """A minimal ONVIF device service: answers at `path`, 404 elsewhere."""

    def __init__(self, path: str = "/onvif/device_service", *, time_fault: bool = False) -> None:
        self.path = path
        self.time_fault = time_fault
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.created: list[str] = []

    async def __aenter__(self) -> OnvifDevice:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            body = await reader.readexactly(length)
            self.requests.append((head, body))
            status, answer = self.answer(head, body)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml\r\n"
                f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def answer(self, head: bytes, body: bytes) -> tuple[str, bytes]:
        if head.split(b" ")[1].decode() != self.path:
            return "404 Not Found", b"<html><title>404</title></html>"
        if b"GetSystemDateAndTime" in body:
            if self.time_fault:
                return "400 Bad Request", fault("ter:NotAuthorized")
            return "200 OK", date_time_answer(DEVICE_TIME)
        if b"GetDeviceInformation" in body:
            ok, created = digest_ok(body, PASSWORD)
            self.created.append(created)
            return (
                ("200 OK", DEVICE_INFO) if ok else ("400 Bad Request", fault("ter:NotAuthorized"))
            )
        return "400 Bad Request", fault("ter:ActionNotSupported")

    def operations(self) -> list[str]:
        return [re.search(rb"<tds:(\w+)/>", body).group(1).decode() for _, body in self.requests]


async def test_date_and_time_without_credentials_and_nothing_more():
    async with OnvifDevice() as dev:
        ctx = make_ctx()
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", {dev.port})
    assert values(ctx, "onvif_datetime") == ["UTC=2020-01-02T03:04:05Z"]
    assert dev.operations() == ["GetSystemDateAndTime"]  # no GetDeviceInformation without creds
    head, body = dev.requests[0]
    assert head.startswith(b"POST /onvif/device_service HTTP/1.1")
    assert b"application/soap+xml" in head.lower()
    assert b"Security" not in body and b"authorization" not in head.lower()
    ev = ctx.evidence[0]
    assert (ev.module, ev.port, ev.source) == (
        "onvif",
        dev.port,
        f"http://127.0.0.1:{dev.port}/onvif/device_service",
    )
    assert ctx.warnings == []


async def test_device_information_with_a_correct_digest_in_device_time():
    async with OnvifDevice() as dev:
        ctx = make_ctx(Credentials("admin", PASSWORD, LOOPBACK))
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", {dev.port})
    assert values(ctx, "onvif_device_info") == [
        "Manufacturer=HIKVISION\nModel=DS-2CD2143G0-I\nFirmwareVersion=V5.5.0 build 170725\n"
        "SerialNumber=DS-2CD2143G0-I20170101AAWR123456789\nHardwareId=88"
    ]
    assert dev.operations() == ["GetSystemDateAndTime", "GetDeviceInformation"]
    # Created follows the device's clock (2020), not ours: skewed devices accept the token.
    assert dev.created[0].startswith("2020-01-02T03:04:")
    assert PASSWORD.encode() not in dev.requests[1][1]
    assert not any(PASSWORD in w for w in ctx.warnings)


async def test_wrong_password_is_tried_once_and_reported():
    async with OnvifDevice() as dev:
        ctx = make_ctx(Credentials("admin", "wrong", LOOPBACK))
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", {dev.port})
    assert dev.operations() == ["GetSystemDateAndTime", "GetDeviceInformation"]
    assert values(ctx, "onvif_device_info") == []
    assert any("refused (fault ter:NotAuthorized)" in w for w in ctx.warnings)
    assert not any("wrong" in w for w in ctx.warnings)


async def test_fault_on_date_and_time_still_marks_onvif():
    async with OnvifDevice(time_fault=True) as dev:
        ctx = make_ctx()
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", {dev.port})
    assert values(ctx, "onvif_datetime") == ["fault=ter:NotAuthorized"]


async def test_hinted_xaddr_on_the_probed_host_is_used():
    async with OnvifDevice(path="/onvif/dev") as dev:
        ctx = make_ctx()
        ctx.add_hint("127.0.0.1", "onvif_xaddr", f"http://127.0.0.1:{dev.port}/onvif/dev")
        # dev.port counts as a web port; no port is open, so only the hint is tried
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", set())
    assert values(ctx, "onvif_datetime") == ["UTC=2020-01-02T03:04:05Z"]
    assert len(dev.requests) == 1


async def test_an_xaddr_naming_another_host_is_not_repointed_at_the_probed_one():
    async with OnvifDevice(path="/onvif/dev") as dev:
        ctx = make_ctx()
        for xaddr in (
            f"http://127.0.0.3:{dev.port}/onvif/dev",  # another (loopback) address
            f"http:@127.0.0.3:{dev.port}/onvif/dev",  # malformed: was re-pointed
            f"http://admin:pw@127.0.0.1:{dev.port}/onvif/dev",  # user info
            f"http://127.0.0.1:{dev.port}/onvif/dev?x=1",  # a query
        ):
            ctx.add_hint("127.0.0.1", "onvif_xaddr", xaddr)
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", set())
    assert dev.requests == [] and ctx.evidence == []


async def test_a_plain_web_server_is_not_onvif_and_not_a_warning():
    async with OnvifDevice(path="/elsewhere") as dev:
        ctx = make_ctx(Credentials("admin", PASSWORD, LOOPBACK))
        await OnvifModule(web_ports=(dev.port,)).probe(ctx, "127.0.0.1", {dev.port})
    assert ctx.evidence == [] and ctx.warnings == []
    assert dev.operations() == ["GetSystemDateAndTime"]


async def test_no_endpoint_no_traffic():
    ctx = make_ctx()
    await OnvifModule().probe(ctx, "127.0.0.1", {554})
    assert ctx.evidence == [] and ctx.warnings == []


def test_endpoints_order_dedup_and_caps():
    urls = endpoints(
        "10.1.1.1",
        ["http://192.168.1.64/onvif/device_service http://[fe80::1]:8899/onvif/device_service",
         "https://10.1.1.1:443/onvif/device_service", "ftp://x/", "http://h:notaport/",
         "http://10.1.1.1:8899/onvif/device_service http://10.1.1.1:8000/onvif/device_service",
         "http://10.1.1.1/onvif/device_service"],
        {80, 8000, 8080},
        (80, 8080, 8000),
    )  # fmt: skip
    # Only XAddrs on 10.1.1.1 itself; never an SDK port (8000), not even named as a web port.
    assert urls == [
        "https://10.1.1.1:443/onvif/device_service",
        "http://10.1.1.1:8899/onvif/device_service",
        "http://10.1.1.1:80/onvif/device_service",
        "http://10.1.1.1:8080/onvif/device_service",
    ]


def test_build_get_device_information_digest_and_escaping():
    nonce = bytes(range(16))
    created = datetime(2026, 11, 24, 14, 0, 0, tzinfo=UTC)
    xml = build_get_device_information(Credentials("ad<min>&", PASSWORD), created, nonce)
    ok, created_text = digest_ok(xml, PASSWORD)
    assert ok and created_text == "2026-11-24T14:00:00Z"
    root = ET.fromstring(xml)
    assert root.findtext(".//wsse:Username", namespaces=NS) == "ad<min>&"
    assert PASSWORD.encode() not in xml


def test_parse_device_information_and_date_time():
    assert parse_device_information(DEVICE_INFO)["Model"] == "DS-2CD2143G0-I"
    assert parse_system_date_time(date_time_answer(DEVICE_TIME)) == DEVICE_TIME
    local_only = envelope(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )
    assert parse_system_date_time(local_only) is None
    bad_month = date_time_answer(DEVICE_TIME).replace(b"<tt:Month>1<", b"<tt:Month>13<")
    assert parse_system_date_time(bad_month) is None
    with pytest.raises(SoapFault) as info:
        parse_device_information(fault("ter:NotAuthorized"))
    assert info.value.code == "ter:NotAuthorized"
    with pytest.raises(ParseError):
        parse_device_information(date_time_answer(DEVICE_TIME))


BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Envelope><Body><GetDeviceInformationResponse><Model>&lol3;</Model>
</GetDeviceInformationResponse></Body></Envelope>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Envelope><Body><GetDeviceInformationResponse><Model>&x;</Model>
</GetDeviceInformationResponse></Body></Envelope>"""


@pytest.mark.parametrize("data", [BOMB, XXE, b"", b"<a>", b"<Envelope/>", b"\xff" * 100,
                                  b"<x>" * 100_000 + b"y" * (600 * 1024)])  # fmt: skip
def test_hostile_xml_is_a_parse_error(data):
    with pytest.raises(ParseError):
        parse_device_information(data)
    with pytest.raises(ParseError):
        parse_system_date_time(data)


_TAGS = st.sampled_from(
    [
        "Envelope",
        "Body",
        "Fault",
        "GetDeviceInformationResponse",
        "GetSystemDateAndTimeResponse",
        "UTCDateTime",
        "Date",
        "Time",
        "Year",
        "Month",
        "Day",
        "Hour",
        "Minute",
        "Second",
        "Model",
        "Manufacturer",
    ]
)


@st.composite
def xmlish(draw: st.DrawFn) -> bytes:
    tags = draw(st.lists(_TAGS, max_size=10))
    text = draw(st.text(alphabet="0123456789 <>&ab\x00", max_size=8))
    inner = text
    for tag in reversed(tags):
        inner = f"<{tag}>{inner}</{tag}>"
    return inner.encode("utf-8", "replace")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=1500), xmlish()))
def test_parsers_return_records_or_parse_error(data):
    try:
        info = parse_device_information(data)
        assert all(isinstance(v, str) for v in info.values())
    except ParseError:
        pass
    try:
        t = parse_system_date_time(data)
        assert t is None or t.tzinfo is UTC
    except ParseError:
        pass
