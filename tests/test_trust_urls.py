"""A device's words are not orders (issue 13, item 1): a URL a device hands over is fetched only
when it points at the sender itself, on a web port, without user info or query string, and no
URL kept in the output holds user info or a query.

The socket tests put a forger on 127.0.0.1 that answers camscan's SSDP M-SEARCH and
WS-Discovery Probe with LOCATIONs / XAddrs that carry a password, a reboot command, an SDK port
or a malformed host, next to a "camera" web server on the same address that records every
request. Before the fix camscan sent `Authorization: Basic` and `?action=reboot` to the camera,
POSTed ONVIF to the Dahua SDK port and copied the password into the evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from ipaddress import IPv4Network

import pytest

from camscan.discovery.base import Credentials, ScanContext, ScanSettings
from camscan.discovery.http import HttpModule, http_evidence
from camscan.discovery.onvif import OnvifModule
from camscan.discovery.ssdp import SsdpModule
from camscan.discovery.urlpolicy import fetchable, keep_url
from camscan.discovery.wsd import WsdModule

IP = "127.0.0.1"
SECRET = "hunter2"
SDK_PORT = 37777  # Dahua DVRIP


# -- the policy, pure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://10.0.0.5/desc.xml", "http://10.0.0.5:80/desc.xml"),
        ("https://10.0.0.5:8443/x", "https://10.0.0.5:8443/x"),
        ("http://10.0.0.5:49152/description.xml", "http://10.0.0.5:49152/description.xml"),
        ("HTTP://10.0.0.5", "http://10.0.0.5:80/"),
        ("http://10.0.0.5/a#frag", "http://10.0.0.5:80/a"),
        ("http://admin:hunter2@10.0.0.5/cgi-bin/magicBox.cgi", None),  # user info
        ("http://@10.0.0.5/", None),
        ("http://10.0.0.5/cgi-bin/magicBox.cgi?action=reboot", None),  # query
        ("http://10.0.0.5/x?", None),
        ("http://10.0.0.6/desc.xml", None),  # another host
        ("http:@10.0.0.6/desc.xml", None),  # malformed: once re-pointed
        ("http://010.0.0.5/", None),  # another spelling of an address
        ("http://10.0.0.5.nip.io/", None),
        ("http://0x0a000005/", None),
        ("http://10.0.0.5:8000/onvif/device_service", None),  # Hikvision SDK
        ("http://10.0.0.5:37777/", None),  # Dahua DVRIP
        ("http://10.0.0.5:34567/", None),  # Xiongmai
        ("http://10.0.0.5:9000/", None),  # Reolink Baichuan
        ("http://10.0.0.5:554/", None),  # RTSP
        ("http://10.0.0.5:12345/", None),  # not a web port
        ("http://10.0.0.5:80:81/", None),
        ("ftp://10.0.0.5/", None),
        ("http://10.0.0.5/a b", None),
        ("http://10.0.0.5\\@10.0.0.6/", None),
        ("http://10.0.0.5/a\r\nX: y", None),
    ],
)
def test_what_may_be_fetched(url: str, expected: str | None) -> None:
    assert fetchable(url, "10.0.0.5").url == expected


def test_sdk_ports_are_refused_even_when_named_as_web_ports() -> None:
    assert fetchable("http://10.0.0.5:8000/", "10.0.0.5", ports={8000}).url is None
    assert fetchable("http://10.0.0.5:12345/", "10.0.0.5", ports={12345}).url is not None


def test_a_redirect_is_resolved_against_the_url_that_answered() -> None:
    base = "http://10.0.0.5:8080/"
    assert fetchable("/login.asp", "10.0.0.5", base=base).url == "http://10.0.0.5:8080/login.asp"
    assert fetchable("//10.0.0.6/x", "10.0.0.5", base=base).url is None
    assert fetchable("/x?cmd=reboot", "10.0.0.5", base=base).url is None


@pytest.mark.parametrize(
    "value, kept",
    [
        ("http://admin:hunter2@10.0.0.5:80/a/b?pwd=hunter2#x", "http://10.0.0.5:80/a/b"),
        ("/doc/page/login.asp?_1581234", "/doc/page/login.asp"),
        ("onvif://www.onvif.org/name/Cam", "onvif://www.onvif.org/name/Cam"),
        ("http://user:hunter2/x@10.0.0.5/", "http://…"),  # what is left could be the password
        ("http://[fe80::1]:80/onvif", "http://[fe80::1]:80/onvif"),
        ("urn:uuid:1234", "urn:uuid:1234"),
    ],
)
def test_what_is_kept_in_the_output(value: str, kept: str) -> None:
    assert keep_url(value) == kept


def test_http_location_evidence_loses_user_info_and_query() -> None:
    headers = [("Location", f"http://admin:{SECRET}@10.0.0.5/cgi-bin/a.cgi?pwd={SECRET}")]
    [ev] = [e for e in http_evidence(302, headers, b"", "10.0.0.5", 80, "/") if e.protocol]
    assert ev.value == "http://10.0.0.5/cgi-bin/a.cgi" and SECRET not in (ev.source or "")


# -- a camera and a forger on 127.0.0.1 ---------------------------------------------------


class Camera:
    """A web server that records every request head (and Connection counts per port)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length: *(\d+)", head)
            if match:
                await reader.readexactly(int(match.group(1)))
            self.requests.append(head)
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


class SdkPort:
    """A listener on the Dahua SDK port of 127.0.0.1 that counts connections."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@contextlib.asynccontextmanager
async def camera_and_sdk_port() -> AsyncIterator[tuple[Camera, int, SdkPort]]:
    camera, sdk = Camera(), SdkPort()
    web = await asyncio.start_server(camera.handle, IP, 0)
    try:
        sdk_server = await asyncio.start_server(sdk.handle, IP, SDK_PORT, reuse_address=True)
    except OSError:
        web.close()
        pytest.skip(f"{IP}:{SDK_PORT} is taken")
    try:
        yield camera, web.sockets[0].getsockname()[1], sdk
    finally:
        for server in (web, sdk_server):
            server.close()
            await server.wait_closed()


class Forger(asyncio.DatagramProtocol):
    """Answers every datagram with each of `answers(request)`, unicast to the asker."""

    def __init__(self, answers) -> None:  # type: ignore[no-untyped-def]
        self.answers = answers
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        for answer in self.answers(data):
            self.transport.sendto(answer, addr)


@contextlib.asynccontextmanager
async def forger(answers) -> AsyncIterator[tuple[str, int]]:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Forger(answers), local_addr=(IP, 0))
    try:
        yield transport.get_extra_info("sockname")
    finally:
        transport.close()


def make_ctx(**kw: object) -> ScanContext:
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")],
        interface=None,
        local_ip=IP,
        settings=ScanSettings(listen_window=0.5, io_timeout=2.0, connect_timeout=1.0),
        **kw,  # type: ignore[arg-type]
    )


def everything_kept(ctx: ScanContext) -> str:
    parts = [f"{e.value}\n{e.source}" for e in ctx.evidence] + ctx.warnings
    parts += [n for notes in ctx.notes.values() for n in notes]
    return "\n".join(parts)


def forged_locations(web_port: int) -> list[str]:
    return [
        f"http://admin:{SECRET}@{IP}:{web_port}/cgi-bin/magicBox.cgi?action=reboot",
        f"http://admin:{SECRET}@{IP}:{web_port}/description.xml",
        f"http://{IP}:{web_port}/cgi-bin/magicBox.cgi?action=reboot",
        f"http://{IP}:{SDK_PORT}/description.xml",
    ]


def ssdp_answer(location: str) -> bytes:
    return (
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
        f"LOCATION: {location}\r\nSERVER: Linux/3.10, UPnP/1.0, forged/1.0\r\n"
        f"ST: upnp:rootdevice\r\nUSN: uuid:{uuid.uuid4()}::upnp:rootdevice\r\n\r\n"
    ).encode()


async def test_forged_ssdp_locations_make_camscan_send_nothing() -> None:
    async with camera_and_sdk_port() as (camera, web_port, sdk):
        locations = forged_locations(web_port)
        async with forger(lambda _req: [ssdp_answer(loc) for loc in locations]) as addr:
            ctx = make_ctx()
            # The camera's port counts as a web port: only the forged URLs' other parts refuse.
            await SsdpModule(destinations=[addr], web_ports={web_port}).run(ctx)
    assert camera.requests == []  # no login, no reboot, not even a plain GET of the path
    assert sdk.connections == 0
    kept = everything_kept(ctx)
    assert SECRET not in kept and "action=reboot" not in kept
    assert [e.protocol for e in ctx.evidence] == ["ssdp_server"]
    assert ctx.evidence[0].source == f"http://{IP}:{web_port}/cgi-bin/magicBox.cgi"
    assert "SSDP LOCATION not fetched (URL with user info)" in ctx.notes[IP]


def probe_match(xaddrs: list[str], relates_to: str) -> bytes:
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
        f"<s:Header><a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches>"
        f"<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:{uuid.uuid4()}</a:Address>"
        "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:Scopes>onvif://admin:{SECRET}@www.onvif.org/name/Forged</d:Scopes>"
        f"<d:XAddrs>{' '.join(xaddrs)}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def relates_to(probe: bytes) -> str:
    m = re.search(rb"MessageID>([^<]+)<", probe)
    return m.group(1).decode() if m else ""


async def test_forged_ws_discovery_xaddrs_get_no_onvif_request_and_no_login() -> None:
    async with camera_and_sdk_port() as (camera, web_port, sdk):
        xaddrs = [
            f"http://admin:{SECRET}@{IP}:{web_port}/onvif/device_service",
            f"http://{IP}:{web_port}/onvif/device_service?action=reboot",
            f"http:@127.0.0.3:{web_port}/onvif/device_service",  # malformed, was re-pointed
            f"http://127.0.0.3:{web_port}/onvif/device_service",  # another host
            f"http://{IP}:{SDK_PORT}/onvif/device_service",  # Dahua SDK port
        ]
        async with forger(lambda req: [probe_match([x], relates_to(req)) for x in xaddrs]) as addr:
            creds = Credentials("admin", "the-password", (IPv4Network(f"{IP}/32"),))
            ctx = make_ctx(credentials=creds)
            await WsdModule(destinations=[addr]).run(ctx)
            # The camera's port counts as a web port; none of its ports is open to the sweep.
            await OnvifModule(web_ports=(web_port,)).probe(ctx, IP, set())
    assert camera.requests == []
    assert sdk.connections == 0
    assert ctx.hints(IP, "onvif_xaddr") == []
    kept = everything_kept(ctx)
    assert SECRET not in kept and "action=reboot" not in kept
    assert "onvif://www.onvif.org/name/Forged" in kept  # the scope, without its user info


class Redirector(Camera):
    """`/` redirects to `target`; every request is recorded."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            if head.startswith(b"GET / "):
                answer = f"HTTP/1.1 302 Found\r\nLocation: {self.target}\r\n"
            else:
                answer = "HTTP/1.1 200 OK\r\n"
            writer.write(f"{answer}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    "target",
    [
        "/cgi-bin/magicBox.cgi?action=reboot",
        f"http://admin:{SECRET}@{IP}:{{port}}/cgi-bin/magicBox.cgi",
        f"http://{IP}:{SDK_PORT}/",
    ],
)
async def test_redirects_are_followed_only_under_the_same_rules(target: str) -> None:
    sdk = SdkPort()
    try:
        sdk_server = await asyncio.start_server(sdk.handle, IP, SDK_PORT, reuse_address=True)
    except OSError:
        pytest.skip(f"{IP}:{SDK_PORT} is taken")
    device = Redirector(target)
    server = await asyncio.start_server(device.handle, IP, 0)
    port = server.sockets[0].getsockname()[1]
    device.target = target.format(port=port)
    try:
        ctx = make_ctx()
        await HttpModule(web_ports={port}, vendor_paths=()).probe(ctx, IP, {port})
    finally:
        for s in (server, sdk_server):
            s.close()
            await s.wait_closed()
    paths = [h.split(b" ")[1] for h in device.requests]
    assert b"/cgi-bin/magicBox.cgi" not in b" ".join(paths) and not any(b"?" in p for p in paths)
    assert not any(b"authorization" in h.lower() for h in device.requests)
    assert sdk.connections == 0
    kept = everything_kept(ctx)
    assert SECRET not in kept and "action=reboot" not in kept
    assert any(e.protocol == "http_location" for e in ctx.evidence)
