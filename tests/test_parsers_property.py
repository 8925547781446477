"""Every parser of device bytes, in one place: any bytes in, a record (or nothing) or the
parser's typed error out — never another exception, never unbounded time or memory.

The per-protocol test files already throw plain random bytes at each parser. What is added
here, for all of them at once: inputs shaped to get past the first checks (real headers,
envelopes, DTDs and entity references, length fields that lie), a time limit on every call,
and a memory limit on the worst inputs a hostile device can send (entity bombs, decompression
bombs, lying lengths, deep nesting, megabyte answers).
"""

from __future__ import annotations

import contextlib
import gzip
import struct
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camscan.credentials import parse_credentials
from camscan.discovery import arp, banner, dahua, html, onvif, rtsp, sadp, ssdp, tlsinfo, wsd
from camscan.discovery.http import http_evidence
from camscan.discovery.mdns import txt_lines
from camscan.discovery.vendors import all_protocols
from camscan.errors import CamscanError, CaptureError, ParseError, UsageError
from camscan.passive import dhcp, dns, httphead, mdnsread, passive_evidence, tls

IP = "198.18.0.77"
CALL_LIMIT = 2.0  # seconds one parser call may take, at most (they take microseconds)
MEMORY_LIMIT = 64 << 20  # bytes a parser may allocate on the worst input (tracemalloc peak)


@dataclass(frozen=True)
class Parser:
    """One parser: `run(data)` returns anything or raises one of `errors` (its typed error);
    `prefixes` get random input past the parser's first checks."""

    run: Callable[[bytes], object]
    errors: tuple[type[Exception], ...] = (ParseError,)
    prefixes: tuple[bytes, ...] = (b"",)


def _capture(data: bytes, tmp: Path) -> object:
    """The passive pipeline over a capture file: pcap reader, fast path, every extractor."""
    path = tmp / "capture.pcap"
    path.write_bytes(data)
    return list(passive_evidence([str(path)]))


_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_SOAP = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Body>'
)
_DHIP = struct.pack("<I4s8xI4xI4x", 0x20, b"DHIP", 4096, 4096)

PARSERS: dict[str, Parser] = {
    "wsd.parse_message": Parser(
        wsd.parse_message, prefixes=(b"", _SOAP + b"<d:ProbeMatches><d:ProbeMatch>", _SOAP)
    ),
    "ssdp.parse_response": Parser(
        ssdp.parse_response, prefixes=(b"", b"HTTP/1.1 200 OK\r\n", b"NOTIFY * HTTP/1.1\r\n")
    ),
    "ssdp.parse_description": Parser(
        ssdp.parse_description,
        prefixes=(b"", b'<root xmlns="urn:schemas-upnp-org:device-1-0"><device>'),
    ),
    "sadp.parse": Parser(sadp.parse, prefixes=(b"", b"<?xml version='1.0'?><ProbeMatch>")),
    "dahua.parse": Parser(dahua.parse, prefixes=(b"", _DHIP, b"\xb3" + bytes(0x47))),
    **{
        f"vendors.{p.name}.parse": Parser(p.parse, prefixes=(b"", p.build()[:4]))
        for p in all_protocols()
    },
    "rtsp.parse_response": Parser(rtsp.parse_response, prefixes=(b"", b"RTSP/1.0 200 OK\r\n")),
    "html.parse_title": Parser(
        lambda b: html.parse_title(b, "text/html; charset=utf-8"), (), (b"", b"<title>")
    ),
    "html.body_snippet": Parser(lambda b: html.body_snippet(b, None), (), (b"", b"\xff\xfe")),
    "html.header_is_dirty": Parser(lambda b: html.header_is_dirty(b.decode("latin-1")), ()),
    "http.http_evidence": Parser(
        lambda b: http_evidence(
            200, [("Server", b[:300].decode("latin-1"))], b, IP, 80, "/", scheme="http"
        ),
        (),
        (b"", b"<html><head><meta charset=", b"\x1f\x8b"),
    ),
    "http.http_evidence.gzip": Parser(
        lambda b: http_evidence(200, [("Content-Encoding", "gzip")], b, IP, 80, "/"), ()
    ),
    "tlsinfo.cert_evidence": Parser(
        lambda b: tlsinfo.cert_evidence(b, IP, 443), prefixes=(b"", b"\x30\x82")
    ),
    "tlsinfo.cert_problems": Parser(tlsinfo.cert_problems, (), (b"", b"\x30\x82")),
    "onvif.parse_system_date_time": Parser(onvif.parse_system_date_time, prefixes=(b"", _SOAP)),
    "onvif.parse_device_information": Parser(onvif.parse_device_information, prefixes=(b"", _SOAP)),
    "banner.banner_evidence": Parser(lambda b: banner.banner_evidence(23, b, IP), ()),
    "arp.parse_reply": Parser(
        arp.parse_reply, (), (b"", bytes(12) + b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02")
    ),
    "mdns.txt_lines": Parser(lambda b: txt_lines(mdnsread.parse_txt(b)), ()),
    "passive.mdns_services": Parser(mdnsread.mdns_services, (), (b"", b"\x00\x00\x84\x00")),
    "passive.dhcp.parse": Parser(
        dhcp.parse, prefixes=(b"", b"\x02\x01\x06\x00" + bytes(232) + b"\x63\x82\x53\x63")
    ),
    "passive.dns.query_names": Parser(dns.query_names, prefixes=(b"", b"\x12\x34\x01\x00\x00\x01")),
    "passive.httphead.parse_head": Parser(
        httphead.parse_head, prefixes=(b"", b"HTTP/1.1 200 OK\r\n")
    ),
    "passive.httphead.dechunk": Parser(httphead.dechunk, (), (b"", b"ffffffff\r\n")),
    "passive.tls.leaf_certificate": Parser(tls.leaf_certificate, (), (b"\x16\x03\x03",)),
    "credentials.parse_credentials": Parser(
        parse_credentials, (UsageError,), (b"", b"username: admin\npassword: ")
    ),
}


def call(parser: Parser, data: bytes) -> None:
    started = time.perf_counter()
    try:
        parser.run(data)
    except parser.errors:
        pass
    elapsed = time.perf_counter() - started
    assert elapsed < CALL_LIMIT, f"{elapsed:.2f}s on {len(data)} bytes"


def xml_documents() -> st.SearchStrategy[bytes]:
    """Small XML documents: random elements and text, sometimes with a DTD (internal or
    external entities, a parameter entity) and entity references in the text."""
    names = st.sampled_from(
        ["Envelope", "Body", "ProbeMatch", "root", "device", "Scopes", "manufacturer", "x"]
    )
    text = st.text(max_size=20) | st.sampled_from(["&e;", "&lol9;", "&xxe;", "&#0;", "&amp;"])
    tree = st.recursive(
        st.builds(lambda n, t: f"<{n}>{t}</{n}>", names, text.map(_xml_escape_some)),
        lambda kids: st.builds(
            lambda n, ks: f"<{n}>{''.join(ks)}</{n}>", names, st.lists(kids, max_size=4)
        ),
        max_leaves=12,
    )
    doctype = st.sampled_from(
        [
            "",
            '<!DOCTYPE r [<!ENTITY e "entity">]>',
            '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://198.18.0.1/x.dtd"> %p;]>',
            '<!DOCTYPE r SYSTEM "http://198.18.0.1/x.dtd">',
        ]
    )
    return st.builds(
        lambda d, t: ('<?xml version="1.0"?>' + d + t).encode("utf-8", "surrogatepass"),
        doctype,
        tree,
    )


def _xml_escape_some(value: str) -> str:
    return value.replace("<", "&lt;") if "&" not in value else value


def shaped(parser: Parser) -> st.SearchStrategy[bytes]:
    tails = st.binary(max_size=600) | xml_documents() | st.text(max_size=200).map(str.encode)
    return st.tuples(st.sampled_from(parser.prefixes), tails).map(lambda pt: pt[0] + pt[1])


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """First calls import and compile things; the time limit is for the parsing itself."""
    for parser in PARSERS.values():
        call(parser, b"")


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_shaped_bytes_give_a_record_or_the_typed_error(name: str, data: st.DataObject) -> None:
    parser = PARSERS[name]
    call(parser, data.draw(shaped(parser)))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(records=st.lists(st.binary(min_size=16, max_size=300), max_size=8))
def test_capture_with_a_valid_header_and_random_records(
    tmp_path_factory: pytest.TempPathFactory, records: list[bytes]
) -> None:
    tmp = tmp_path_factory.mktemp("cap")
    data = _PCAP_HEADER + b"".join(records)
    started = time.perf_counter()
    try:
        _capture(data, tmp)
    except CaptureError:
        pass
    assert time.perf_counter() - started < CALL_LIMIT * 5


# -- the worst a device can send: bounded time and memory ------------------------------------


def _bomb(root: str, inner: str = "&lol9;") -> bytes:
    ents = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{ents}]><{root}>{inner}</{root}>'.encode()


def _quadratic(root: str) -> bytes:
    big = "A" * 50_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY a "{big}">]>'
        f"<{root}>{'&a;' * 1000}</{root}>"
    ).encode()


def _deep(root: str, depth: int = 50_000) -> bytes:
    return f"<{root}>".encode() + b"<a>" * depth + b"</a>" * depth + f"</{root}>".encode()


_MEGABYTE = b"<html><head><title>" + b"T" * (1 << 20) + b"</title></head></html>"
_GZIP_BOMB = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB of zeros, ~64 KiB
_DNS_LOOP = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"
_DEEP_JSON = _DHIP[:16] + struct.pack("<I4xI4x", 60_000, 60_000) + b"[" * 30_000 + b"]" * 30_000
_CHUNK_LIE = b"7fffffff\r\n" + b"x" * (1 << 20)
_TLS_LIE = b"\x16\x03\x03\xff\xff\x0b\xff\xff\xff" + b"\x00" * 70_000
_PCAP_LIE = _PCAP_HEADER + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"\0" * 1000

_YAML_LAUGHS = (
    b'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + b"".join(
        b"l%d: &l%d [%s]\n" % (i, i, b",".join([b"*l%d" % (i - 1)] * 9)) for i in range(1, 10)
    )
    + b"username: *l9\npassword: *l9\n"
)

WORST: list[tuple[str, bytes]] = [
    ("wsd.parse_message", _bomb("Envelope")),
    ("wsd.parse_message", _quadratic("Envelope")),
    ("wsd.parse_message", _deep("Envelope")),
    ("wsd.parse_message", _SOAP + b"<d:ProbeMatches>" + b"<d:ProbeMatch/>" * 4000),
    ("sadp.parse", _bomb("ProbeMatch")),
    ("sadp.parse", _deep("ProbeMatch", 20_000)),
    ("ssdp.parse_description", _bomb("root")),
    ("ssdp.parse_description", _quadratic("root")),
    ("ssdp.parse_description", b"<root><device>" + b"<friendlyName>x</friendlyName>" * 30_000),
    ("ssdp.parse_response", b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 65_000),
    ("onvif.parse_device_information", _bomb("Envelope")),
    ("onvif.parse_system_date_time", _deep("Envelope", 20_000)),
    ("dahua.parse", _DEEP_JSON),
    ("dahua.parse", _DHIP + b'{"method":"client.notifyDevInfo","params":{"deviceInfo":{' + b'"k":1,' * 9000 + b'"z":0}}}'),
    ("rtsp.parse_response", b"RTSP/1.0 200 OK\r\n" + b"Server: " + b"s" * (1 << 20)),
    ("html.parse_title", _MEGABYTE),
    ("html.body_snippet", _MEGABYTE),
    ("http.http_evidence", _MEGABYTE),
    ("http.http_evidence.gzip", _GZIP_BOMB),
    ("tlsinfo.cert_evidence", b"\x30\x84\xff\xff\xff\xff" + b"\0" * 60_000),
    ("tlsinfo.cert_problems", b"\x30\x84\xff\xff\xff\xff" + b"\0" * 60_000),
    ("banner.banner_evidence", b"\xff\xfa" + b"\x18" * (1 << 20)),
    ("passive.dns.query_names", _DNS_LOOP),
    ("passive.httphead.dechunk", _CHUNK_LIE),
    ("passive.httphead.parse_head", b"HTTP/1.1 200 OK\r\n" + b"a: b\r\n" * 100_000 + b"\r\n"),
    ("passive.tls.leaf_certificate", _TLS_LIE),
    ("passive.mdns_services", b"\x00\x00\x84\x00\xff\xff\xff\xff\xff\xff\xff\xff" + b"\xc0\x0c" * 30_000),
    ("credentials.parse_credentials", b"username: &a [" + b"*a, " * 15_000 + b"]"),
    ("credentials.parse_credentials", _YAML_LAUGHS),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data"), WORST, ids=[f"{n}-{i}" for i, (n, _) in enumerate(WORST)]
)
def test_worst_inputs_stay_bounded(name: str, data: bytes) -> None:
    parser = PARSERS[name]
    call(parser, data)  # timed
    tracemalloc.start()  # tracing slows allocation down: memory is measured on a second run
    try:
        try:
            parser.run(data)
        except parser.errors:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{name}: {peak >> 20} MiB"


def test_capture_with_a_lying_record_length_stays_bounded(tmp_path: Path) -> None:
    started = time.perf_counter()
    with contextlib.suppress(CaptureError):
        _capture(_PCAP_LIE, tmp_path)
    assert time.perf_counter() - started < CALL_LIMIT
    tracemalloc.start()
    try:
        with contextlib.suppress(CaptureError):
            _capture(_PCAP_LIE, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT


def test_every_parser_error_is_a_camscan_error() -> None:
    """The typed errors are camscan's own: callers catch CamscanError and nothing else."""
    for parser in PARSERS.values():
        assert all(issubclass(e, CamscanError) for e in parser.errors)
