"""http module, host-wide paths: the vendor paths and the favicon are asked once per host, on
the port whose `/` answered best, and on the next port only when that one gave them no real
answer; every port still gets `/` and its own certificate, read from the connection it used.
Real servers on 127.0.0.1, two per host where the test needs two ports."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest
from test_discovery_http import (
    HIK_SUBJECT,
    ICON,
    Server,
    make_ctx,
    murmur3_32,
    response,
    server_tls,
    values,
)

from camscan.discovery.http import FAVICON_PATH, VENDOR_PATHS, HttpModule

ISAPI = "/ISAPI/System/deviceInfo"
HIK_401 = response("401 Unauthorized", [("WWW-Authenticate", 'Digest realm="hikvision"')])
ICON_200 = response("200 OK", [("Content-Type", "image/x-icon")], ICON)


def page(server: str, title: str, status: str = "200 OK") -> bytes:
    return response(status, [("Server", server), ("Content-Type", "text/html")],
                    f"<title>{title}</title>".encode())  # fmt: skip


def paths(srv: Server) -> list[str]:
    return [r.split(b" ")[1].decode() for r in srv.requests]


class CountingServer(Server):
    """Also counts connections, handshakes that carried no request included."""

    connections = 0

    async def _serve(self, reader, writer):
        self.connections += 1
        await super()._serve(reader, writer)


async def two_servers(**tls):
    """Two servers; returned (lower port, higher port) so tests can say which ranks first."""
    a, b = Server(**tls.get("a", {})), Server(**tls.get("b", {}))
    await a.__aenter__()
    await b.__aenter__()
    return (a, b) if a.port < b.port else (b, a)


async def probe(ctx, *servers, tls_ports=()):
    ports = {s.port for s in servers}
    await HttpModule(web_ports=ports, tls_ports=set(tls_ports)).probe(ctx, "127.0.0.1", ports)


async def close(*servers):
    for s in servers:
        await s.__aexit__(None, None, None)


async def test_vendor_paths_and_favicon_once_per_host():
    low, high = await two_servers()
    try:
        for srv, name in ((low, "low"), (high, "high")):
            srv.routes = {"/": page(f"Webs-{name}", name), ISAPI: HIK_401, FAVICON_PATH: ICON_200}
        ctx = make_ctx()
        await probe(ctx, low, high)
    finally:
        await close(low, high)
    # Both ports: their own `/`, headers and title.
    assert sorted(values(ctx, "http_server")) == ["Webs-high", "Webs-low"]
    assert sorted(values(ctx, "html_title")) == ["high", "low"]
    # The host-wide paths: on the lower port only, each once.
    assert sorted(paths(low)) == sorted(["/", FAVICON_PATH, *VENDOR_PATHS])
    assert paths(high) == ["/"]
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert values(ctx, "favicon_mmh3") == [str(murmur3_32(base64.encodebytes(ICON)))]
    assert values(ctx, "favicon_md5") == [hashlib.md5(ICON).hexdigest()]
    assert ctx.warnings == []


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error"])
async def test_a_port_failing_on_root_does_not_take_the_vendor_paths(status):
    low, high = await two_servers()
    try:
        low.routes = {"/": page("Gateway", "Error", status)}
        high.routes = {"/": page("App-webs/", "Login"), ISAPI: HIK_401}
        ctx = make_ctx()
        await probe(ctx, low, high)
    finally:
        await close(low, high)
    assert paths(low) == ["/"]
    assert ISAPI in paths(high)
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert "Gateway" in values(ctx, "http_server")  # the failing port's own evidence stays


async def test_a_port_redirecting_to_https_hands_the_vendor_paths_to_it(tmp_path):
    tls, _ = server_tls(tmp_path)
    low, high = await two_servers()
    await high.__aexit__(None, None, None)
    high = Server(tls=tls)
    await high.__aenter__()
    try:
        moved = response("301 Moved Permanently", [("Location", f"https://127.0.0.1:{high.port}/")])
        low.routes = {p: moved for p in ("/", FAVICON_PATH, *VENDOR_PATHS)}
        high.routes = {"/": page("App-webs/", "Login"), ISAPI: HIK_401, FAVICON_PATH: ICON_200}
        ctx = make_ctx()
        await probe(ctx, low, high, tls_ports={high.port})
    finally:
        await close(low, high)
    assert paths(low) == ["/"]  # the redirect itself was followed to high: nothing else here
    assert ISAPI in paths(high) and FAVICON_PATH in paths(high)
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert values(ctx, "x509_subject") == [HIK_SUBJECT]
    assert len(values(ctx, "favicon_md5")) == 1


async def test_vendor_paths_move_on_when_the_best_port_gives_no_real_answer():
    low, high = await two_servers()
    broken = response("503 Service Unavailable", [])
    try:
        low.routes = {"/": page("Proxy", "Home"), FAVICON_PATH: broken}
        low.routes.update({p: broken for p in VENDOR_PATHS})
        high.routes = {"/": page("App-webs/", "Login"), ISAPI: HIK_401, FAVICON_PATH: ICON_200}
        ctx = make_ctx()
        await probe(ctx, low, high)
    finally:
        await close(low, high)
    assert sorted(paths(low)) == sorted(["/", FAVICON_PATH, *VENDOR_PATHS])
    assert ISAPI in paths(high) and FAVICON_PATH in paths(high)
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert len(values(ctx, "favicon_md5")) == 1


async def test_plain_http_ranks_before_https(tmp_path):
    tls, _ = server_tls(tmp_path)
    async with Server(tls=tls) as secure, Server() as plain:
        for srv in (secure, plain):
            srv.routes = {"/": page("Webs", "Login"), ISAPI: HIK_401}
        ctx = make_ctx()
        await probe(ctx, secure, plain, tls_ports={secure.port})
    assert ISAPI in paths(plain)
    assert ISAPI not in paths(secure)
    assert values(ctx, "x509_subject") == [HIK_SUBJECT]


async def test_certificate_comes_from_the_request_connection(tmp_path):
    tls, _ = server_tls(tmp_path)
    async with CountingServer({"/": page("Webs", "NVR")}, tls=tls) as srv:
        ctx = make_ctx()
        await HttpModule(web_ports={srv.port}, tls_ports={srv.port}, vendor_paths=()).probe(
            ctx, "127.0.0.1", {srv.port}
        )
    assert values(ctx, "x509_subject") == [HIK_SUBJECT]
    assert sorted(paths(srv)) == ["/", FAVICON_PATH]
    assert srv.connections == 2  # `/` and the favicon: no handshake just for the certificate


class KeepAliveServer(CountingServer):
    """Answers request after request on one connection, as HTTP/1.1 lets a server do."""

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.requests.append(head)
                path = head.split(b" ")[1].decode()
                writer.write(self.routes.get(path, response("404 Not Found", [])))
                await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def test_a_server_that_keeps_connections_open_gets_few_of_them():
    routes = {"/": page("App-webs/", "Login"), ISAPI: HIK_401, FAVICON_PATH: ICON_200}
    async with KeepAliveServer(routes) as srv:
        ctx = make_ctx()
        await probe(ctx, srv)
    assert sorted(paths(srv)) == sorted(["/", FAVICON_PATH, *VENDOR_PATHS])  # each asked once
    # `/` first, then the favicon beside the vendor paths: two connections, not one per path.
    assert srv.connections <= 2
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert ctx.warnings == []


async def test_a_server_that_closes_after_every_answer_still_answers_every_path():
    # Server closes each connection after one answer without a "Connection: close": a reused
    # connection may be gone when the next request goes out; that request goes again on a new
    # one, and the port gets a new connection per request from then on.
    routes = {"/": page("App-webs/", "Login"), ISAPI: HIK_401, FAVICON_PATH: ICON_200}
    async with CountingServer(routes) as srv:
        ctx = make_ctx()
        await probe(ctx, srv)
    asked = paths(srv)
    assert sorted(set(asked)) == sorted(["/", FAVICON_PATH, *VENDOR_PATHS])
    assert len(asked) == len(set(asked))  # a request on a dead connection never reached it
    assert srv.connections == len(asked)
    assert values(ctx, "http_wwwauth") == ['Digest realm="hikvision"']
    assert ctx.warnings == []
