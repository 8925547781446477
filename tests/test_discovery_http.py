"""http module: real servers on 127.0.0.1 ephemeral ports, plain and TLS, well- and
ill-behaved; and property tests of the pure parts (title, certificates, evidence)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import hashlib
import socket
import ssl
import struct
import tracemalloc
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Network
from pathlib import Path

import mmh3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.http import (
    HttpModule,
    cert_evidence,
    favicon_hashes,
    http_evidence,
    parse_title,
)
from camscan.discovery.httpfetch import fetch, make_client
from camscan.errors import ParseError

HIK_SUBJECT = "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"


def make_ctx(**overrides: object) -> ScanContext:
    s = ScanSettings(connect_timeout=1.0, io_timeout=2.0)
    for k, v in overrides.items():
        setattr(s, k, v)
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")], interface=None, local_ip="127.0.0.1", settings=s
    )


def values(ctx: ScanContext, protocol: str) -> list[str]:
    return [e.value for e in ctx.evidence if e.protocol == protocol]


# -- a tiny scriptable server -----------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


def response(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def fixed(data: bytes) -> Handler:
    async def handler(reader, writer, head):  # noqa: ARG001
        writer.write(data)
        await writer.drain()

    return handler


class Server:
    """Serves routes {path: Handler | bytes}; unknown paths get a 404. Logs request heads."""

    def __init__(
        self,
        routes: dict[str, Handler | bytes] | None = None,
        *,
        raw: Handler | None = None,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.routes = routes or {}
        self.raw = raw
        self.tls = tls
        self.host = host
        self.requests: list[bytes] = []
        self.tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            if self.raw:
                await self.raw(reader, writer, b"")
                return
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            path = head.split(b" ")[1].decode()
            route = self.routes.get(path, response("404 Not Found", [("Server", "App-webs/")]))
            if isinstance(route, bytes):
                writer.write(route)
                await writer.drain()
            else:
                await route(reader, writer, head)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)


# -- certificates -----------------------------------------------------------------------------


def _name(text: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "O": NameOID.ORGANIZATION_NAME, "L": NameOID.LOCALITY_NAME,
            "ST": NameOID.STATE_OR_PROVINCE_NAME, "C": NameOID.COUNTRY_NAME}  # fmt: skip
    # RFC 4514 lists the last RDN first: build in reverse so the string round-trips.
    parts = [p.split("=", 1) for p in text.split(",")]
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in reversed(parts)])


def make_cert(subject: str, *, expired: bool = False) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    start, end = (now - dt.timedelta(days=900), now - dt.timedelta(days=400)) if expired else (
        now - dt.timedelta(days=1), now + dt.timedelta(days=30))  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_tls(tmp_path: Path, subject: str = HIK_SUBJECT, *, expired: bool = False):
    cert, key = make_cert(subject, expired=expired)
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return ctx, x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)


# -- a hand-written MurmurHash3 x86_32, to check the favicon convention independently ---------


def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & mask  # noqa: E731
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = struct.unpack_from("<I", data, i)[0]
        k = rotl((k * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    k = 0
    tail = data[n:]
    for i, b in enumerate(tail):
        k |= b << (8 * i)
    if tail:
        h ^= rotl((k * c1) & mask, 15) * c2 & mask
    h ^= len(data)
    for shift, mul in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * mul) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


ICON = bytes(range(256)) * 3  # 768 bytes: the base64 text spans many 76-char lines


def test_murmur_reference_matches_known_vectors():
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 613153351
    assert murmur3_32(b"foo") == -156908512


def test_favicon_hashes_follow_shodan_and_recog_conventions():
    mmh, md5 = favicon_hashes(ICON)
    b64 = base64.encodebytes(ICON)
    assert b64.count(b"\n") == len(b64) // 77 + (len(b64) % 77 > 0)  # a newline per 76 chars
    assert mmh == str(murmur3_32(b64))
    assert mmh != str(mmh3.hash(base64.b64encode(ICON)))  # the newlines matter
    assert md5 == hashlib.md5(ICON).hexdigest()


# -- the module against live servers ----------------------------------------------------------


LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'>\n<title>\n  Hik  &amp; Login\n</title>"
    b"</head><body>Copyright Hikvision Digital Technology Co., Ltd.</body></html>"
)


async def test_server_title_realm_location_favicon_and_vendor_paths():
    routes = {
        "/": response("302 Found", [("Server", "App-webs/"), ("Location", "/doc/page/login.asp")]),
        "/doc/page/login.asp": response(
            "200 OK", [("Server", "App-webs/"), ("Content-Type", "text/html")], LOGIN_PAGE
        ),
        "/ISAPI/System/deviceInfo": response(
            "401 Unauthorized",
            [
                ("WWW-Authenticate", 'Digest realm="hikvision", nonce="n1"'),
                ("WWW-Authenticate", 'Basic realm="hikvision"'),
            ],  # fmt: skip
        ),
        "/favicon.ico": response("200 OK", [("Content-Type", "image/x-icon")], ICON),
    }
    async with Server(routes) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "http_server") == ["App-webs/"]
    assert values(ctx, "http_location") == ["/doc/page/login.asp"]
    assert values(ctx, "html_title") == ["Hik & Login"]
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision", nonce="n1"',
                                           'Basic realm="hikvision"']  # fmt: skip
    bodies = values(ctx, "http_body")
    assert any(
        b.startswith("GET /doc/page/login.asp -> 200\n") and "Hikvision Digital Technology" in b
        for b in bodies
    )
    assert "GET /ISAPI/System/deviceInfo -> 401" in bodies
    assert values(ctx, "favicon_mmh3") == [str(murmur3_32(base64.encodebytes(ICON)))]
    assert values(ctx, "favicon_md5") == [hashlib.md5(ICON).hexdigest()]
    # The redirect was followed once (it is on the same host), nothing was re-fetched.
    paths = [r.split(b" ")[1] for r in srv.requests]
    assert paths.count(b"/doc/page/login.asp") == 1
    # Read-only and anonymous: GET only, no credentials.
    assert all(r.startswith(b"GET ") for r in srv.requests)
    assert not any(b"authorization" in r.lower() for r in srv.requests)
    ev = next(e for e in ctx.evidence if e.protocol == "html_title")
    assert (ev.ip, ev.port, ev.module, ev.transport) == ("127.0.0.1", srv.port, "http", "tcp")
    assert ev.source == f"http://127.0.0.1:{srv.port}/doc/page/login.asp"
    assert ctx.warnings == []


async def test_redirect_to_another_host_is_recorded_not_followed():
    async with Server({"/": b""}, host="127.0.0.2") as other:
        loc = f"http://127.0.0.2:{other.port}/"
        routes = {"/": response("302 Found", [("Location", loc)])}
        async with Server(routes) as srv:
            ctx = make_ctx()
            await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "http_location") == [loc]
    assert other.requests == []


async def test_catch_all_login_page_is_not_recorded_per_vendor_path():
    page = response("200 OK", [("Content-Type", "text/html")], b"<title>Web</title>same page")
    async with Server({p: page for p in ("/", "/Login.htm", "/cgi-bin/api.cgi")}) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "http_body") == ["GET / -> 200\n<title>Web</title>same page"]


async def test_favicon_that_is_a_login_page_is_not_hashed():
    page = response("200 OK", [("Content-Type", "text/html")], b"<html><title>x</title></html>")
    async with Server({"/": page, "/favicon.ico": page}) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "favicon_md5") == []


async def test_tls_port_certificate_subject_and_issuer(tmp_path):
    tls, der = server_tls(tmp_path)
    page = response("200 OK", [("Server", "DNVRS-Webs")], b"<title>NVR</title>")
    async with Server({"/": page}, tls=tls) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}, tls_ports={srv.port}).probe(
            ctx, "127.0.0.1", {srv.port}
        )
    assert values(ctx, "x509_subject") == [HIK_SUBJECT]
    assert values(ctx, "x509_issuer") == [HIK_SUBJECT]
    assert values(ctx, "http_server") == ["DNVRS-Webs"]
    ev = next(e for e in ctx.evidence if e.protocol == "html_title")
    assert ev.source.startswith("https://")
    assert cert_evidence(der, "127.0.0.1", srv.port)[0].value == HIK_SUBJECT


async def test_expired_self_signed_certificate_is_still_read(tmp_path):
    subject = "CN=axis-accc8e000001,O=Axis Communications AB"
    tls, _ = server_tls(tmp_path, subject, expired=True)
    async with Server({"/": response("200 OK", [], b"<title>AXIS</title>")}, tls=tls) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}, tls_ports={srv.port}).probe(
            ctx, "127.0.0.1", {srv.port}
        )
    assert values(ctx, "x509_subject") == [subject]
    assert values(ctx, "html_title") == ["AXIS"]


async def test_tls_on_a_plain_first_port_falls_back_to_tls(tmp_path):
    tls, _ = server_tls(tmp_path)
    async with Server({"/": response("200 OK", [("Server", "Webs")])}, tls=tls) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}, tls_ports=set()).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "http_server") == ["Webs"]
    assert values(ctx, "x509_subject") == [HIK_SUBJECT]


async def test_plain_http_on_a_tls_first_port_falls_back_to_plain():
    async with Server({"/": response("200 OK", [("Server", "uc-httpd 1.0.0")])}) as srv:
        ctx = make_ctx(connect_timeout=0.3)  # the plain server sits on our ClientHello
        await HttpModule(web_ports={srv.port}, tls_ports={srv.port}).probe(
            ctx, "127.0.0.1", {srv.port}
        )
    assert values(ctx, "http_server") == ["uc-httpd 1.0.0"]
    assert values(ctx, "x509_subject") == []


async def _slowloris(reader, writer, head):  # noqa: ARG001
    for byte in b"HTTP/1.1 200 OK\r\nServer: slow\r\n\r\n":
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1)


@pytest.mark.timeout(20)
async def test_slowloris_head_ends_at_the_deadline():
    async with Server(raw=_slowloris) as srv:
        ctx = make_ctx(io_timeout=0.5)
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("timed out" in w for w in ctx.warnings)


async def _endless_chunked(reader, writer, head):  # noqa: ARG001
    writer.write(b"HTTP/1.1 200 OK\r\nServer: chunky\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"<title>t</title>" + b"A" * 8000
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def _huge_length(reader, writer, head):  # noqa: ARG001
    writer.write(b"HTTP/1.1 200 OK\r\nServer: big\r\nContent-Length: 1000000000\r\n\r\n")
    block = b"B" * 65536
    while True:
        writer.write(block)
        await writer.drain()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("handler", [_endless_chunked, _huge_length])
async def test_endless_and_huge_bodies_are_cut_at_max_body(handler):
    max_body = 100_000
    async with Server({"/": handler}) as srv:
        ctx = make_ctx(max_body=max_body, io_timeout=10.0)
        async with make_client(ctx.settings) as client:
            tracemalloc.start()
            try:
                reply = await fetch(
                    client, f"http://127.0.0.1:{srv.port}/", deadline=10.0, max_body=max_body
                )
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert len(reply.body) == max_body
    assert reply.truncated
    assert peak < 8 * 1024 * 1024  # a bounded read, not a gigabyte


@pytest.mark.timeout(20)
async def test_endless_body_still_yields_evidence_through_the_module():
    async with Server({"/": _endless_chunked}) as srv:
        ctx = make_ctx(max_body=50_000, io_timeout=10.0)
        await HttpModule(web_ports={srv.port}, vendor_paths=()).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "http_server") == ["chunky"]
    assert values(ctx, "html_title") == ["t"]


@pytest.mark.timeout(20)
async def test_slow_body_is_kept_as_far_as_it_came():
    async def slow_body(reader, writer, head):  # noqa: ARG001
        writer.write(b"HTTP/1.1 200 OK\r\nServer: drip\r\nContent-Length: 100\r\n\r\n<title>dr")
        await writer.drain()
        while True:
            await asyncio.sleep(1)
            writer.write(b"x")
            await writer.drain()

    async with Server({"/": slow_body}) as srv:
        ctx = make_ctx(io_timeout=0.5)
        async with make_client(ctx.settings) as client:
            reply = await fetch(client, f"http://127.0.0.1:{srv.port}/", deadline=0.5,
                                max_body=1000)  # fmt: skip
    assert reply.status == 200 and reply.truncated
    assert reply.body.startswith(b"<title>dr")


async def _reset(reader, writer, head):  # noqa: ARG001
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_reset_on_connect_is_a_warning():
    async with Server(raw=_reset) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("no HTTP answer" in w and "reset" in w for w in ctx.warnings)


async def test_garbage_on_an_http_port_is_a_warning():
    async def garbage(reader, writer, head):  # noqa: ARG001
        writer.write(b"\x00\x00\x00\x10\x00\x00\x00\x1e\x00\x00\x00\x1e\x00\x00\x00\x00")
        await writer.drain()

    async with Server(raw=garbage) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("no HTTP answer" in w for w in ctx.warnings)


async def test_closed_and_unlisted_ports_are_left_alone():
    ctx = make_ctx()
    await HttpModule(web_ports={80}).probe(ctx, "127.0.0.1", {554})
    assert ctx.evidence == [] and ctx.warnings == []


# -- pure functions ---------------------------------------------------------------------------


def test_parse_title_charsets_and_invalid_utf8():
    assert parse_title(b"<title>Cam\xff\xfe era</title>", None) == "Cam\ufffd\ufffd era"
    gb = "<meta charset=gb2312><title>网络摄像机</title>".encode("gbk")
    assert parse_title(gb, None) == "网络摄像机"
    assert (
        parse_title("<title>Caméra</title>".encode("latin-1"), "text/html; charset=ISO-8859-1")
        == "Caméra"
    )
    assert parse_title(b"<TITLE lang=en>\n  A\tB  </TITLE>", None) == "A B"
    assert parse_title(b"<title>\x1b[2Jevil</title>", None) == "[2Jevil"
    assert parse_title(b"<title>x</title>", "text/html; charset=idna") == "x"
    assert parse_title(b"<title>" + b"a" * 5000, None) == "a" * 256
    assert parse_title(b"no title here", None) is None
    assert parse_title(b"<title>  </title>", None) is None
    assert parse_title("<title>ÜTF16</title>".encode("utf-16"), None) == "ÜTF16"


def test_http_evidence_gzip_body_and_401_line():
    body = gzip.compress(b"<title>Zipped</title> please login first")
    evs = http_evidence(200, [("Content-Encoding", "gzip")], body, "10.0.0.5", 80,
                        "/cgi-bin/api.cgi")  # fmt: skip
    assert [(e.protocol, e.value) for e in evs] == [
        ("html_title", "Zipped"),
        ("http_body", "GET /cgi-bin/api.cgi -> 200\n<title>Zipped</title> please login first"),
    ]
    evs = http_evidence(401, [("WWW-Authenticate", 'Digest realm="Login to 1234"')], b"",
                        "10.0.0.5", 8080, "/LAPI/V1.0/System/DeviceInfo", observed_at=5.0,
                        packet=7)  # fmt: skip
    assert [(e.protocol, e.value) for e in evs] == [
        ("http_wwwauth", 'Digest realm="Login to 1234"'),
        ("http_body", "GET /LAPI/V1.0/System/DeviceInfo -> 401"),
    ]
    assert all(e.observed_at == 5.0 and e.packet == 7 for e in evs)


def test_http_evidence_gzip_bomb_is_bounded():
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    evs = http_evidence(200, [("Content-Encoding", "gzip"), ("Content-Type", "text/plain")],
                        bomb, "10.0.0.5", 80, "/")  # fmt: skip
    assert all(len(e.value) <= 5000 for e in evs)


def test_cert_evidence_rejects_garbage():
    for junk in (b"", b"\x30\x03\x02\x01\x01", b"not a cert" * 10):
        with pytest.raises(ParseError):
            cert_evidence(junk, "10.0.0.1", 443)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.one_of(st.none(), st.text(max_size=80)))
def test_parse_title_never_raises(body, content_type):
    title = parse_title(body, content_type)
    assert title is None or (0 < len(title) <= 256)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_cert_evidence_is_evidence_or_parse_error(der):
    try:
        evs = cert_evidence(der, "10.0.0.1", 443)
    except ParseError:
        return
    assert all(e.protocol in ("x509_subject", "x509_issuer") for e in evs)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 999),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["Server", "Location", "WWW-Authenticate", "Content-Type", "Content-Encoding", "X"]
            ),
            st.text(max_size=60),
        ),
        max_size=6,
    ),  # fmt: skip
    st.binary(max_size=2000),
    st.sampled_from(["/", "/favicon.ico", "/Login.htm", "/\x00?x"]),
)
def test_http_evidence_never_raises(status, headers, body, path):
    for ev in http_evidence(status, headers, body, "10.0.0.9", 80, path):
        assert ev.value and ev.ip == "10.0.0.9"
