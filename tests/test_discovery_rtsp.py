"""rtsp module: OPTIONS/DESCRIBE against small RTSP servers on 127.0.0.1, and the parser."""

from __future__ import annotations

import asyncio
import re
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.rtsp import RtspModule, parse_response, rtsp_evidence
from camscan.errors import ParseError


def make_ctx(**overrides: object) -> ScanContext:
    s = ScanSettings(connect_timeout=1.0, io_timeout=2.0)
    for k, v in overrides.items():
        setattr(s, k, v)
    return ScanContext(
        targets=[IPv4Network("127.0.0.0/8")], interface=None, local_ip="127.0.0.1", settings=s
    )


def values(ctx: ScanContext, protocol: str) -> list[str]:
    return [e.value for e in ctx.evidence if e.protocol == protocol]


class RtspServer:
    """Answers each request with answer(method, cseq) (None: say nothing); logs requests."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> RtspServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
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
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                method = head.split(b" ", 1)[0].decode()
                cseq = int(re.search(rb"CSeq: (\d+)", head).group(1))
                data = self.answer(method, cseq)
                if data is None:
                    await asyncio.Event().wait()  # accept, never answer
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)


def hikvision(method: str, cseq: int) -> bytes:
    if method == "OPTIONS":
        return (
            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n"
            "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, PAUSE\r\n\r\n"
        ).encode()
    return (f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
            'WWW-Authenticate: Digest realm="Hikvision", nonce="abc", stale="FALSE"\r\n'
            'WWW-Authenticate: Basic realm="/"\r\n\r\n').encode()  # fmt: skip


async def test_options_and_describe_yield_public_and_both_realms():
    async with RtspServer(hikvision) as srv:
        ctx = make_ctx()
        await RtspModule(rtsp_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "rtsp_public") == ["OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, PAUSE"]
    assert values(ctx, "rtsp_wwwauth") == [
        'Digest realm="Hikvision", nonce="abc", stale="FALSE"',
        'Basic realm="/"',
    ]
    assert values(ctx, "rtsp_server") == []
    url = f"rtsp://127.0.0.1:{srv.port}/"
    assert [r.split(b"\r\n", 1)[0].decode() for r in srv.requests] == [
        f"OPTIONS {url} RTSP/1.0",
        f"DESCRIBE {url} RTSP/1.0",
    ]
    assert b"Accept: application/sdp" in srv.requests[1]
    assert not any(b"authorization" in r.lower() for r in srv.requests)
    ev = ctx.evidence[0]
    assert (ev.module, ev.port, ev.transport, ev.source) == ("rtsp", srv.port, "tcp", url)
    assert ctx.warnings == []


async def test_dahua_server_header_is_reported_once():
    def dahua(method: str, cseq: int) -> bytes:
        status = "200 OK" if method == "OPTIONS" else "401 Unauthorized"
        return (f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: Dahua Rtsp Server\r\n"
                'WWW-Authenticate: Basic realm="device"\r\n\r\n').encode()  # fmt: skip

    async with RtspServer(dahua) as srv:
        ctx = make_ctx()
        await RtspModule(rtsp_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert values(ctx, "rtsp_server") == ["Dahua Rtsp Server"]
    assert values(ctx, "rtsp_wwwauth") == ['Basic realm="device"']


@pytest.mark.timeout(20)
async def test_silent_port_ends_at_the_deadline():
    async with RtspServer(lambda method, cseq: None) as srv:
        ctx = make_ctx(io_timeout=0.3)
        await RtspModule(rtsp_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("OPTIONS timed out" in w for w in ctx.warnings)
    assert len(srv.requests) == 1  # no DESCRIBE after a silent OPTIONS


async def test_http_on_the_rtsp_port_is_a_warning():
    async with RtspServer(lambda m, c: b"HTTP/1.1 400 Bad Request\r\n\r\n") as srv:
        ctx = make_ctx()
        await RtspModule(rtsp_ports={srv.port}).probe(ctx, "127.0.0.1", {srv.port})
    assert ctx.evidence == []
    assert any("not an RTSP status line" in w for w in ctx.warnings)


async def test_closed_port_is_a_warning_not_an_exception():
    probe_sock = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe_sock.sockets[0].getsockname()[1]
    probe_sock.close()
    await probe_sock.wait_closed()
    ctx = make_ctx()
    await RtspModule(rtsp_ports={port}).probe(ctx, "127.0.0.1", {port})
    assert ctx.evidence == []
    assert len(ctx.warnings) == 1


def test_parse_response_details():
    resp = parse_response(
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 42 OPTIONS\r\nServer:HiIpcam/V100R003 VodServer/1.0.0"
        b'\r\nWWW-Authenticate: Digest realm="x",\r\n nonce="y"\r\nbad line\r\n\r\nv=0\r\n'
    )
    assert (resp.version, resp.status, resp.reason, resp.cseq) == ("1.0", 401, "Unauthorized", 42)
    assert resp.header("server") == "HiIpcam/V100R003 VodServer/1.0.0"
    assert resp.header_values("WWW-Authenticate") == ['Digest realm="x", nonce="y"']
    assert [e.protocol for e in rtsp_evidence(resp, "10.0.0.2", 554)] == [
        "rtsp_server",
        "rtsp_wwwauth",
    ]
    # A head cut off by the size cap is read as far as it goes.
    assert parse_response(b"RTSP/1.0 200 OK\nCSeq: 1\nServer: a").header("server") == "a"
    assert parse_response(b"RTSP/1.0 200 OK\r\nCSeq: " + b"9" * 5000 + b"\r\n\r\n").cseq is None


@pytest.mark.parametrize(
    "data", [b"", b"HTTP/1.1 200 OK\r\n\r\n", b"RTSP/1.0 2000 OK\r\n\r\n", b"\x00\xff" * 40]
)
def test_parse_response_rejects_non_rtsp(data):
    with pytest.raises(ParseError):
        parse_response(data)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=2000),
                 st.binary(max_size=500).map(lambda b: b"RTSP/1.0 200 OK\r\n" + b)))  # fmt: skip
def test_parse_response_is_a_record_or_parse_error(data):
    try:
        resp = parse_response(data)
    except ParseError:
        return
    assert 0 <= resp.status <= 999
    for ev in rtsp_evidence(resp, "10.0.0.2", 554):
        assert ev.value
