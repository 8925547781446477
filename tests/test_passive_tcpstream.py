"""Minimal TCP reassembly: ordering, overlaps, caps, eviction; and the TLS/HTTP framing it
relies on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_passive_packets import make_cert, server_hello, tls_server_flight

from camscan.passive import httphead, tls
from camscan.passive.tcpstream import Stream, StreamTable

KEY = (b"\xc6\x12\x00\x15", b"\xc6\x12\x00\x01", 80, 40000)


def _table(complete=lambda s: False, **kw) -> tuple[StreamTable, list[Stream]]:  # noqa: ANN001
    done: list[Stream] = []
    return StreamTable(complete=complete, on_done=done.append, **kw), done


def test_in_order_out_of_order_and_overlapping_segments() -> None:
    table, done = _table()
    data = bytes(range(256)) * 4
    table.start(KEY, "http", 100, data[:10], 1, 0.0)
    assert table.segment(KEY, 100 + 30, 0x10, data[30:60])  # early: held back
    assert table.segment(KEY, 100 + 5, 0x10, data[5:20])  # overlaps what we have
    assert table.segment(KEY, 100 + 20, 0x10, data[20:30])  # fills the gap
    assert table.segment(KEY, 100, 0x10, data[:10])  # a retransmission
    assert table.segment(KEY, 100 + 60, 0x11, data[60:100])  # FIN
    assert len(done) == 1 and bytes(done[0].buf) == data[:100]
    assert not table.segment(KEY, 200, 0x10, b"x")  # the stream is gone


def test_sequence_numbers_wrap() -> None:
    table, done = _table()
    isn = 2**32 - 5
    table.start(KEY, "http", isn, b"0123456789", 1, 0.0)
    table.segment(KEY, 5, 0x01, b"abc")  # (isn + 10) mod 2**32
    assert bytes(done[0].buf) == b"0123456789abc"


def test_data_before_the_start_is_ignored() -> None:
    table, done = _table()
    table.start(KEY, "http", 1000, b"HTTP/1.1 200 OK\r\n", 1, 0.0)
    table.segment(KEY, 900, 0x10, b"x" * 50)
    table.flush()
    assert bytes(done[0].buf) == b"HTTP/1.1 200 OK\r\n"


def test_buffer_cap_ends_the_stream() -> None:
    table, done = _table(max_bytes=100)
    table.start(KEY, "http", 0, b"a" * 60, 1, 0.0)
    table.segment(KEY, 60, 0x10, b"b" * 60)
    assert len(done) == 1 and bytes(done[0].buf) == b"a" * 60 + b"b" * 40
    assert len(table) == 0


def test_least_recently_used_flows_are_evicted_and_still_read() -> None:
    table, done = _table(max_flows=3)
    keys = [(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 80, 1000 + i) for i in range(5)]
    for i, key in enumerate(keys[:3]):
        table.start(key, "http", 0, b"x%d" % i, i, 0.0)
    table.segment(keys[0], 2, 0x10, b"more")  # keys[0] is now the most recent
    table.start(keys[3], "http", 0, b"y", 4, 0.0)
    table.start(keys[4], "http", 0, b"z", 5, 0.0)
    assert [s.key for s in done] == [keys[1], keys[2]]
    assert len(table) == 3


def test_total_bytes_held_are_capped() -> None:
    table, done = _table(max_bytes=1000, max_total=2500)
    keys = [(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 80, 1000 + i) for i in range(4)]
    for i, key in enumerate(keys[:3]):
        table.start(key, "http", 0, b"x" * 900, i, 0.0)
    assert [s.key for s in done] == [keys[0]]  # 2700 bytes > 2500: the oldest goes
    assert table.held == 1800 and len(table) == 2
    table.segment(keys[1], 950, 0x10, b"y" * 5000)  # held back, cut to the 1000-byte cap
    assert table.held == 1850
    table.start(keys[3], "http", 0, b"x" * 900, 3, 0.0)
    assert [s.key for s in done] == [keys[0], keys[2]]  # keys[1] was used more recently
    table.flush()
    assert table.held == 0 and len(done) == 4


def test_complete_ends_the_stream_early() -> None:
    table, done = _table(complete=lambda s: httphead.complete(s.buf, s.head_only))
    table.start(KEY, "http", 0, b"HTTP/1.1 204 No Content\r\nServer: x\r\n", 1, 0.0)
    assert done == []
    table.segment(KEY, 36, 0x10, b"\r\n")
    assert len(done) == 1


def test_a_new_answer_on_the_same_flow_finishes_the_old_one() -> None:
    table, done = _table()
    table.start(KEY, "http", 0, b"HTTP/1.1 200 OK\r\n", 1, 0.0)
    table.start(KEY, "http", 500, b"HTTP/1.1 404 Not Found\r\n", 2, 0.0)
    assert [s.number for s in done] == [1]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=64), st.integers(0, 255)),
        max_size=30,
    )
)
def test_random_segments_keep_memory_bounded(segments: list[tuple[int, bytes, int]]) -> None:
    table, done = _table(max_bytes=256)
    table.start(KEY, "http", 12345, b"HTTP/1.1 200 OK\r\n", 1, 0.0)
    for seq, payload, flags in segments:
        table.segment(KEY, seq, flags, payload)
    assert table.held <= 256 + 16 * 256
    table.flush()
    assert len(done) == 1 and len(done[0].buf) <= 256 and len(done[0].pending) <= 16
    assert table.held == 0


# -- framing -------------------------------------------------------------------------------


def test_http_completion_rules() -> None:
    assert not httphead.complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", False)
    assert httphead.complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde", False)
    assert httphead.complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", True)  # HEAD
    assert httphead.complete(b"HTTP/1.1 304 Not Modified\r\n\r\n", False)
    assert not httphead.complete(b"HTTP/1.1 200 OK\r\n\r\n<html>", False)  # until FIN
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert not httphead.complete(chunked + b"3\r\nabc\r\n", False)
    assert httphead.complete(chunked + b"3\r\nabc\r\n0\r\n\r\n", False)


def test_dechunk_keeps_a_cut_off_last_chunk() -> None:
    assert httphead.dechunk(b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n") == b"abcdefg"
    assert httphead.dechunk(b"a\r\n0123") == b"0123"


def test_parse_head_folds_and_keeps_order() -> None:
    status, headers, at = httphead.parse_head(
        b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n realm="x"\r\nServer: a\r\n\r\nB'
    )
    assert status == 401 and headers == [("WWW-Authenticate", 'Basic realm="x"'), ("Server", "a")]
    assert at == len(
        b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n realm="x"\r\nServer: a\r\n\r\n'
    )


def test_leaf_certificate_in_every_split() -> None:
    der = make_cert()
    for split in (None, 7, 100, 1000):
        flight = tls_server_flight(der, record_split=split)
        for cut in range(3, len(flight), 37):
            state, _ = tls.leaf_certificate(flight[:cut])
            assert state is tls.Tls.MORE or (state is tls.Tls.FOUND and cut >= len(der))
        assert tls.leaf_certificate(flight) == (tls.Tls.FOUND, der)


def test_tls13_and_certificate_less_handshakes_end_the_search() -> None:
    hello13 = server_hello(tls13=True)
    flight = b"\x16\x03\x03" + len(hello13).to_bytes(2, "big") + hello13
    assert tls.leaf_certificate(flight)[0] is tls.Tls.NONE
    hello12 = server_hello() + b"\x0e\x00\x00\x00"  # ServerHello, ServerHelloDone (PSK/anon)
    flight = b"\x16\x03\x03" + len(hello12).to_bytes(2, "big") + hello12
    assert tls.leaf_certificate(flight)[0] is tls.Tls.NONE
    assert tls.leaf_certificate(b"\x17\x03\x03\x00\x05hello")[0] is tls.Tls.NONE


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_leaf_certificate_never_raises(data: bytes) -> None:
    state, der = tls.leaf_certificate(b"\x16\x03\x03" + data)
    assert (der is not None) is (state is tls.Tls.FOUND)


def test_a_head_with_vt_or_ff_inside_a_value_keeps_the_whole_value() -> None:
    """Lines end at LF only: str.splitlines would cut 'Hik\\x0bvision' at the VT."""
    head = b"HTTP/1.1 401 Unauthorized\r\nServer: Hik\x0bvi\x0csion\r\nX-A: 1\r\n\r\nbody"
    status, headers, end = httphead.parse_head(head)
    assert (status, headers) == (401, [("Server", "Hik\x0bvi\x0csion"), ("X-A", "1")])
    assert head[end:] == b"body"
