"""The raw fallback for heads httpx refuses (NUL, VT, FF, broken lines): real servers on
127.0.0.1 sending such heads, plain and TLS, well-framed and hostile; and the lenient head
parser on built bytes."""

from __future__ import annotations

import tracemalloc

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_discovery_http import HIK_SUBJECT, Server, make_ctx, server_tls, values

from camscan.discovery.http import HttpModule
from camscan.discovery.httpfetch import fetch, make_client
from camscan.discovery.httpframe import MAX_HEAD, dechunk, head_end, parse_head
from camscan.discovery.rawhttp import raw_get
from camscan.errors import ParseError

PAGE = b"<html><head><title>IP Camera</title></head><body>login</body></html>"
# Values h11 refuses (RFC 9112 allows neither NUL nor VT/FF in a field value) but old
# firmware sends: NUL padding of a fixed-size buffer, a stray VT and FF.
DIRTY_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: Hikvision-Webs\x00\x00\x00\r\n"
    b"X-Frame: \x0b\x0c\r\n"
    b"Content-Type: text/html\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n\r\n"
)


def dirty(body: bytes = PAGE, head: bytes = DIRTY_HEAD) -> bytes:
    return head % len(body) + body


def dirty_401(realm: str) -> bytes:
    return (
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="%s"\x00\r\n'
        b"Content-Length: 0\r\n\r\n" % realm.encode()
    )


async def test_httpx_refuses_such_heads():
    """The premise: without the fallback these devices give nothing."""
    async with Server({"/": dirty()}) as srv:
        async with make_client(make_ctx().settings) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(client, f"http://127.0.0.1:{srv.port}/", deadline=2, max_body=1000)


async def test_module_reads_a_refused_head_by_hand():
    routes = {"/": dirty(), "/ISAPI/System/deviceInfo": dirty_401("hikvision")}
    async with Server(routes) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "http_server") == ["Hikvision-Webs"]  # NULs stripped
    assert values(ctx, "html_title") == ["IP Camera"]
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert "GET /ISAPI/System/deviceInfo -> 401" in values(ctx, "http_body")
    notes = ctx.notes["127.0.0.1"]
    assert f"HTTP port {srv.port}: malformed HTTP head (read leniently)" in notes
    assert any("control characters or invalid UTF-8 in headers" in n for n in notes)
    assert ctx.warnings == []
    # `/` went twice (httpx, then by hand); once the port is known, every other path once.
    paths = [r.split(b" ")[1] for r in srv.requests]
    assert paths.count(b"/") == 2
    assert all(paths.count(p) == 1 for p in set(paths) - {b"/"})
    # The same request both times (GET, no credentials), but for the connection header: the
    # read by hand is one request per connection, and says so.
    roots = [_header_set(r) for r in srv.requests if r.startswith(b"GET / ")]
    assert roots[0] - {b"connection: keep-alive"} == roots[1] - {b"connection: close"}
    assert not any(b"authorization" in r.lower() for r in srv.requests)


def _header_set(head: bytes) -> set[bytes]:
    return {line.lower() for line in head.split(b"\r\n") if line}


async def test_refused_head_over_tls_keeps_the_certificate(tmp_path):
    tls, _ = server_tls(tmp_path)
    async with Server({"/": dirty()}, tls=tls) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}, tls_ports={srv.port}, vendor_paths=()).probe(
            ctx, "127.0.0.1", {srv.port}
        )
    assert values(ctx, "http_server") == ["Hikvision-Webs"]
    assert values(ctx, "x509_subject") == [HIK_SUBJECT]
    ev = next(e for e in ctx.evidence if e.protocol == "html_title")
    assert ev.source == f"https://127.0.0.1:{srv.port}/"


async def test_raw_get_reads_a_chunked_body():
    head = b"HTTP/1.0 200 OK\r\nServer: x\x0by\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"7\r\n<title>\r\n5;ext=1\r\nChunk\r\n8\r\n</title>\r\n0\r\n\r\n"
    async with Server({"/": head + body}) as srv:
        reply = await raw_get("127.0.0.1", srv.port, "/", tls=False, deadline=2,
                              connect_timeout=1, max_body=1000)  # fmt: skip
    assert (reply.status, reply.body, reply.truncated) == (200, b"<title>Chunk</title>", False)
    assert reply.headers[0] == ("Server", "x\x0by")
    assert reply.peer_cert is None


async def _dirty_slowloris(reader, writer, head):  # noqa: ARG001
    writer.write(b"HTTP/1.1 200 OK\r\nServer: a\x00b\r\n")
    await writer.drain()
    await reader.read()  # never finishes the head


@pytest.mark.timeout(20)
async def test_raw_head_that_never_ends_stops_at_the_deadline():
    async with Server({"/": _dirty_slowloris}) as srv:
        with pytest.raises(TimeoutError):
            await raw_get("127.0.0.1", srv.port, "/", tls=False, deadline=0.5,
                          connect_timeout=1, max_body=1000)  # fmt: skip
        ctx = make_ctx(io_timeout=0.5)
        await HttpModule(web_ports={srv.port}, vendor_paths=()).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("no HTTP answer" in w and "timed out" in w for w in ctx.warnings)


async def _endless_head(reader, writer, head):  # noqa: ARG001
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:
        writer.write(b"X-Pad: \x00" + b"." * 1000 + b"\r\n")
        await writer.drain()


@pytest.mark.timeout(20)
async def test_raw_head_over_the_cap_is_refused():
    async with Server({"/": _endless_head}) as srv:
        with pytest.raises(ParseError, match="head over"):
            await raw_get("127.0.0.1", srv.port, "/", tls=False, deadline=10,
                          connect_timeout=1, max_body=1000)  # fmt: skip


async def _dirty_endless_body(reader, writer, head):  # noqa: ARG001
    writer.write(b"HTTP/1.1 200 OK\r\nServer: big\x00\r\nContent-Type: text/html\r\n\r\n")
    writer.write(b"<title>big</title>")
    block = b"B" * 65536
    while True:
        writer.write(block)
        await writer.drain()


@pytest.mark.timeout(20)
async def test_raw_endless_body_is_cut_at_max_body():
    max_body = 100_000
    async with Server({"/": _dirty_endless_body}) as srv:
        tracemalloc.start()
        try:
            reply = await raw_get("127.0.0.1", srv.port, "/", tls=False, deadline=10,
                                  connect_timeout=1, max_body=max_body)  # fmt: skip
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        ctx = make_ctx(max_body=max_body, io_timeout=10.0)
        await HttpModule(web_ports={srv.port}, vendor_paths=()).probe(ctx, "127.0.0.1", {srv.port})
    assert len(reply.body) == max_body and reply.truncated
    assert peak < 8 * 1024 * 1024
    assert values(ctx, "http_server") == ["big"]
    assert values(ctx, "html_title") == ["big"]
    assert f"HTTP port {srv.port}: body cut at the {max_body}-byte cap" in ctx.notes["127.0.0.1"]


async def test_raw_body_cut_short_by_the_peer_is_marked():
    data = b"HTTP/1.1 200 OK\r\nServer: \x0c\r\nContent-Length: 100\r\n\r\n<title>cut"
    async with Server({"/": data}) as srv:
        reply = await raw_get("127.0.0.1", srv.port, "/", tls=False, deadline=2,
                              connect_timeout=1, max_body=1000)  # fmt: skip
    assert (reply.body, reply.truncated) == (b"<title>cut", True)


async def test_garbage_stays_no_http_answer_after_the_raw_try():
    async def garbage(reader, writer, head):  # noqa: ARG001
        writer.write(b"\x00\x01garbage\x0b\x0c\r\n\r\n")
        await writer.drain()

    async with Server(raw=garbage) as srv:
        with pytest.raises(ParseError):
            await raw_get("127.0.0.1", srv.port, "/", tls=False, deadline=2,
                          connect_timeout=1, max_body=1000)  # fmt: skip
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("no HTTP answer (http: answer is not HTTP" in w for w in ctx.warnings)


async def test_raw_get_refuses_paths_that_would_smuggle_headers():
    with pytest.raises(ValueError):
        await raw_get("127.0.0.1", 9, "/\r\nX: y", tls=False, deadline=1, connect_timeout=1,
                      max_body=10)  # fmt: skip


# -- the parser on built bytes ------------------------------------------------------------------


def test_parse_head_is_lenient_where_h11_is_strict():
    head = (
        b"HTTP/1.1 401 Unauthorized \x00junk\r\n"
        b"Server: Cam\x0bWeb\x0c/1.0\r\n"  # VT and FF are data, not line breaks
        b"no colon on this line\r\n"
        b": no name\r\n"
        b"WWW-Authenticate: Basic\r\n"
        b'  realm="folded"\r\n'
        b"X-Latin: caf\xe9\x85\n"  # bare LF; \x85 (NEL in latin-1) is no line break either
        b"\r\n"
        b"Server: after the head\r\n"
    )
    status, headers = parse_head(head)
    assert status == 401
    assert headers == [
        ("Server", "Cam\x0bWeb\x0c/1.0"),
        ("WWW-Authenticate", 'Basic realm="folded"'),
        ("X-Latin", "caf\xe9\x85"),
    ]


def test_head_end_and_status_line():
    assert head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody") == 25
    assert head_end(b"HTTP/1.1 200 OK\nA: b\n\nbody") == 22
    assert head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n") == -1
    for bad in (b"", b"\x00HTTP/1.1 200 OK\r\n", b"HTTP/1.1 2000 OK\r\n", b"SSH-2.0-x\r\n"):
        with pytest.raises(ParseError):
            parse_head(bad)


def test_dechunk():
    assert dechunk(b"3\r\nabc\r\n0\r\n\r\n") == (b"abc", True)
    assert dechunk(b"3\nabc\n2\nde\n0\n\n") == (b"abcde", True)
    assert dechunk(b"a\r\n0123") == (b"0123", False)  # cut short: kept as far as it goes
    assert dechunk(b"zz\r\n") == (b"", False)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_HEAD + 100))
def test_parse_head_is_status_and_headers_or_parse_error(data):
    try:
        status, headers = parse_head(b"HTTP/1.1 200 OK\r\n" + data)
    except ParseError:
        raise AssertionError("a status line was there") from None
    assert status == 200 and len(headers) <= 256
    assert all(name and "\n" not in name + value for name, value in headers)
    with pytest.raises(ParseError):
        parse_head(b"X" + data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_dechunk_never_raises_nor_grows(data):
    body, _ = dechunk(data)
    assert len(body) <= len(data)
