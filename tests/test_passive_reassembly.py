"""IP fragment reassembly: fragmented discovery answers read like whole ones (IPv4 and IPv6,
any order), and floods, overlaps, oversized and never-completed datagrams stay bounded."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from test_passive_packets import DAHUA_IP, DAHUA_MAC, SSDP_NOTIFY, WSD_HELLO, write_pcap

from camscan.model import Evidence
from camscan.passive import passive_evidence
from camscan.passive.extract import Extractor
from camscan.passive.fastpath import FastPath
from camscan.passive.reassembly import MAX_DATAGRAMS, Reassembler

DAHUA_LL = "fe80::3eef:8cff:fe00:31"
# a ProbeMatch-sized answer: the Hello with a long scope list
BIG_HELLO = WSD_HELLO.replace(
    b"</d:Scopes>",
    b"".join(b" onvif://www.onvif.org/location/site%d" % i for i in range(60)) + b"</d:Scopes>",
)


def _hello4(ident: int = 0x1234, payload: bytes = BIG_HELLO) -> Packet:
    return (
        IP(src=DAHUA_IP, dst="239.255.255.250", id=ident)
        / UDP(sport=3702, dport=3702) / Raw(payload)
    )  # fmt: skip


def _eth(pkts: list[Packet]) -> list[bytes]:
    return [bytes(Ether(src=DAHUA_MAC, dst="01:00:5e:7f:ff:fa") / p) for p in pkts]


def _run(frames: list[bytes]) -> tuple[Extractor, FastPath]:
    warnings: list[str] = []
    ex = Extractor(warnings.append)
    fast = FastPath(ex, warnings.append)
    for n, frame in enumerate(frames, 1):
        fast.feed(n, 1000.0 + n * 0.001, 1, frame)
    ex.finish()
    assert not [w for w in warnings if "parser failed" in w], warnings
    return ex, fast


def _key(evidence: list[Evidence]) -> set[tuple[str, str, str | None, str | None, int | None]]:
    return {(e.protocol, e.value, e.ip, e.mac, e.port) for e in evidence if e.protocol != "mac"}


def _shuffled(frames: list[bytes]) -> list[bytes]:
    out = list(frames)
    random.Random(7).shuffle(out)
    return out


WHOLE4 = _eth([_hello4()])
FRAGS4 = _eth(fragment(_hello4(), fragsize=256))


def test_the_hello_really_is_fragmented() -> None:
    assert len(BIG_HELLO) > 3000 and len(FRAGS4) > 10


@pytest.mark.parametrize(
    "frames",
    [
        FRAGS4,
        FRAGS4[::-1],
        _shuffled(FRAGS4),
        [f for frag in FRAGS4 for f in (frag, frag)],  # every fragment seen twice
        FRAGS4[1:] + FRAGS4[:1],  # the first fragment (the ports) last
    ],
    ids=["in-order", "reversed", "shuffled", "duplicated", "first-last"],
)
def test_wsd_hello_in_ipv4_fragments_reads_like_the_whole(frames: list[bytes]) -> None:
    whole, _ = _run(WHOLE4)
    assert {"wsd_types", "wsd_scopes"} <= {e.protocol for e in whole.out}
    fragmented, fast = _run(frames)
    assert _key(fragmented.out) == _key(whole.out)
    assert fast.fragments.stats.completed == 1
    # a duplicate after completion starts a new datagram, which only ages out (an IPv4
    # identification is reused soon enough that a finished one cannot block it)
    assert fast.fragments.held <= 256


def test_two_datagrams_interleaved() -> None:
    other = SSDP_NOTIFY + b"X-PAD: " + b"p" * 2000 + b"\r\n\r\n"
    a = _eth(fragment(_hello4(1), fragsize=400))
    b = _eth(
        fragment(IP(src=DAHUA_IP, dst="239.255.255.250", id=2) / UDP(sport=1900, dport=1900)
                 / Raw(other), fragsize=400)
    )  # fmt: skip
    frames = [f for pair in zip(a, b[::-1], strict=False) for f in pair] + a[len(b) :]
    ex, _ = _run(frames)
    protocols = {e.protocol for e in ex.out}
    assert {"wsd_types", "ssdp_server"} <= protocols


def test_reassembled_evidence_has_the_completing_packet() -> None:
    ex, _ = _run(FRAGS4)
    assert {e.packet for e in ex.out if e.protocol == "wsd_types"} == {len(FRAGS4)}


def test_ipv6_fragment_headers_are_reassembled() -> None:
    pkt = (
        IPv6(src=DAHUA_LL, dst="ff02::c") / IPv6ExtHdrFragment(id=99)
        / UDP(sport=3702, dport=3702) / Raw(BIG_HELLO)
    )  # fmt: skip
    frags = fragment6(pkt, 1280)
    assert len(frags) > 2
    frames = [bytes(Ether(src=DAHUA_MAC, dst="33:33:00:00:00:0c") / f) for f in frags]
    whole = bytes(
        Ether(src=DAHUA_MAC) / IPv6(src=DAHUA_LL, dst="ff02::c") / UDP(sport=3702, dport=3702)
        / Raw(BIG_HELLO)
    )  # fmt: skip
    expected = _key(_run([whole])[0].out)
    assert expected and {e[2] for e in expected} == {DAHUA_LL}
    for order in (frames, frames[::-1]):
        ex, fast = _run(order)
        assert _key(ex.out) == expected
        assert len(fast.fragments) == 0


def test_fragments_in_a_capture_file(tmp_path: Path) -> None:
    frames = [(1000.0 + i / 100, f) for i, f in enumerate(FRAGS4[::-1])]
    path = write_pcap(tmp_path / "f.pcap", frames)
    evidence = list(passive_evidence([str(path)]))
    assert _key(evidence) == _key(_run(WHOLE4)[0].out)


def test_tcp_fragments_are_ignored() -> None:
    pkt = IP(src=DAHUA_IP, dst="198.18.0.1") / TCP(sport=80, dport=40000, flags="PA")
    frames = _eth(fragment(pkt / Raw(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n" * 40), 200))
    ex, fast = _run(frames)
    assert [e.protocol for e in ex.out] == ["mac"] and len(fast.fragments) == 0


def test_uninteresting_datagrams_are_dropped_at_their_first_fragment() -> None:
    pkt = IP(src=DAHUA_IP, dst="198.18.0.1", id=5) / UDP(sport=4500, dport=4500)
    frames = _eth(fragment(pkt / Raw(bytes(3000)), 400))
    _, fast = _run(frames)
    assert fast.fragments.held == 0  # the later fragments were not kept
    assert fast.fragments.stats.completed == 0


# -- hostile fragments ---------------------------------------------------------------------


def _frag4(ident: int, offset: int, more: bool, data: bytes, proto: int = 17) -> bytes:
    flags = "MF" if more else 0
    pkt = IP(src=DAHUA_IP, dst="198.18.0.1", id=ident, frag=offset // 8, flags=flags, proto=proto)
    return _eth([pkt / Raw(data)])[0]


def _udp_head(length: int, port: int = 3702) -> bytes:
    return port.to_bytes(2, "big") * 2 + length.to_bytes(2, "big") + b"\x00\x00"


def test_overlapping_fragments_discard_the_datagram() -> None:
    body = BIG_HELLO[:1000]
    head = _udp_head(8 + len(body))
    frames = [
        _frag4(1, 0, True, head + body[:504]),
        _frag4(1, 256, True, b"Z" * 256),  # rewrites bytes already received
        _frag4(1, 512, False, body[504:]),
    ]
    ex, fast = _run(frames)
    assert [e.protocol for e in ex.out] == ["mac"]
    assert fast.fragments.stats.discarded == 1 and fast.fragments.held == 0


def test_garbage_fragments_never_complete_and_never_raise() -> None:
    frames = [
        _frag4(1, 0, True, _udp_head(100) + b"x" * 5),  # not a multiple of 8
        _frag4(2, 65528, False, b"y" * 64),  # ends past 64 KiB
        _frag4(3, 0, True, _udp_head(56) + b"a" * 24),
        _frag4(3, 48, False, b"b" * 8),
        _frag4(3, 40, False, b"c" * 8),  # a second, different last fragment
        _frag4(4, 8, True, b""),  # empty, more to come
        _frag4(5, 0, True, b"\x0e"),  # too short for ports
    ]
    ex, fast = _run(frames)
    assert [e.protocol for e in ex.out] == ["mac"]
    assert fast.fragments.held == 0


def test_a_fragment_flood_stays_bounded() -> None:
    fast = FastPath(Extractor(lambda _m: None), lambda _m: None)
    tracemalloc.start()
    try:
        for n in range(1, 20_001):
            fast.feed(n, 1000.0, 1, _flood_frame(n))
            assert len(fast.fragments) <= MAX_DATAGRAMS
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fast.fragments.held <= MAX_DATAGRAMS * 1000
    assert peak < 8 << 20
    assert fast.fragments.stats.expired >= 20_000 - MAX_DATAGRAMS


_FLOOD = _frag4(0, 8, True, b"f" * 1000)


def _flood_frame(n: int) -> bytes:
    """A later fragment of datagram n (a new identification and source port each)."""
    frame = bytearray(_FLOOD)
    frame[18:20] = (n & 0xFFFF).to_bytes(2, "big")
    frame[26:30] = bytes([198, 18, (n >> 16) & 0xFF, 1])  # another source past 65535
    return bytes(frame)


def test_incomplete_datagrams_expire_by_packets_and_by_time() -> None:
    r = Reassembler(max_packets=100, max_age=5.0)
    r.add(b"a", 8, True, bytes(8), number=1, ts=0.0)
    r.add(b"b", 8, True, bytes(8), number=50, ts=0.0)
    r.add(b"c", 8, True, bytes(8), number=102, ts=0.0)  # a is 101 packets old
    assert len(r) == 2
    r.add(b"d", 8, True, bytes(8), number=103, ts=6.0)  # b and c are 6 s old
    assert len(r) == 1 and r.held == 8 and r.stats.expired == 3


def test_byte_budget_evicts_the_oldest() -> None:
    r = Reassembler(max_bytes=3000)
    for i in range(5):
        r.add(bytes([i]), 0, True, bytes(1000), number=i, ts=0.0)
    assert r.held <= 3000 and len(r) == 3


def test_a_tombstone_drops_the_rest() -> None:
    r = Reassembler()
    r.add(b"k", 0, True, bytes(16), 1, 0.0)
    r.add(b"k", 8, True, bytes(16), 2, 0.0)  # overlaps: discarded
    assert r.add(b"k", 24, False, bytes(8), 3, 0.0) is None
    assert r.add(b"k", 0, True, bytes(24), 4, 0.0) is None  # even a fitting set
    assert r.held == 0 and r.stats.discarded == 1


# -- properties ----------------------------------------------------------------------------


@st.composite
def _split(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, bool, bytes]]]:
    payload = draw(st.binary(min_size=1, max_size=3000))
    cuts = sorted(set(draw(st.lists(st.integers(1, len(payload) // 8 + 1), max_size=20))))
    offsets = [0, *(c * 8 for c in cuts if c * 8 < len(payload))]
    frags = [
        (
            start,
            i < len(offsets) - 1,
            payload[start : offsets[i + 1] if i < len(offsets) - 1 else None],
        )
        for i, start in enumerate(offsets)
    ]
    return payload, draw(st.permutations(frags))


@settings(max_examples=300, deadline=None)
@given(_split())
def test_any_order_of_a_clean_split_reassembles_exactly(
    case: tuple[bytes, list[tuple[int, bool, bytes]]],
) -> None:
    payload, frags = case
    r = Reassembler()
    results = [r.add(b"k", off, more, data, i, 0.0) for i, (off, more, data) in enumerate(frags)]
    assert results[-1] == payload
    assert all(x is None for x in results[:-1])
    assert len(r) == 0 and r.held == 0


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"a", b"b", b"c"]),
            st.integers(0, 70_000),
            st.booleans(),
            st.binary(max_size=200),
            st.integers(0, 300),
        ),
        max_size=60,
    )
)
def test_random_fragments_stay_within_the_bounds(
    frags: list[tuple[bytes, int, bool, bytes, int]],
) -> None:
    r = Reassembler(max_datagrams=2, max_bytes=300, max_packets=100)
    number = 0
    for key, offset, more, data, step in frags:
        number += step
        out = r.add(key, offset, more, data, number, 0.0)
        assert out is None or len(out) <= 65535
        assert len(r) <= 2 and 0 <= r.held <= 300
