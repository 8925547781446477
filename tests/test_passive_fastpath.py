"""The fast path: link types, VLANs, odd IPv4 headers, the kernel filter program, and random
input that must never raise."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw
from test_passive_packets import SADP_REPLY, camera_traffic

from camscan.passive.bpf import attach, ethernet_program, run_program
from camscan.passive.extract import TCP_PORTS, UDP_PORTS, Extractor
from camscan.passive.fastpath import FastPath

HIK_MAC, HIK = "28:57:be:00:00:21", "198.18.0.21"
SADP = IP(src=HIK, dst="239.255.255.250") / UDP(sport=37020, dport=37020) / Raw(SADP_REPLY)


def _run(frames: list[tuple[int, bytes]]) -> tuple[Extractor, list[str]]:
    warnings: list[str] = []
    ex = Extractor(warnings.append)
    fast = FastPath(ex, warnings.append)
    for n, (linktype, data) in enumerate(frames, 1):
        fast.feed(n, 1.0, linktype, data)
    ex.finish()
    return ex, warnings


def _protocols(ex: Extractor) -> list[tuple[str, str | None, str | None]]:
    return [(e.protocol, e.ip, e.mac) for e in ex.out]


def _sll(payload: bytes, mac: bytes = bytes.fromhex("2857be000021")) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, mac + b"\0\0", 0x0800) + payload


def _sll2(payload: bytes, mac: bytes = bytes.fromhex("2857be000021")) -> bytes:
    return struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, mac + b"\0\0") + payload


@pytest.mark.parametrize(
    "linktype,frame,with_mac",
    [
        (1, bytes(Ether(src=HIK_MAC) / SADP), True),
        (1, bytes(Ether(src=HIK_MAC) / Dot1Q(vlan=7) / SADP), True),
        (1, bytes(Ether(src=HIK_MAC, type=0x88A8) / Dot1AD(vlan=2) / Dot1Q(vlan=7) / SADP), True),
        (113, _sll(bytes(SADP)), True),
        (276, _sll2(bytes(SADP)), True),
        (101, bytes(SADP), False),
        (228, bytes(SADP), False),
        (0, struct.pack("<I", 2) + bytes(SADP), False),
        (0, struct.pack(">I", 2) + bytes(SADP), False),
        (108, struct.pack(">I", 2) + bytes(SADP), False),
    ],
)
def test_link_types(linktype: int, frame: bytes, with_mac: bool) -> None:
    ex, warnings = _run([(linktype, frame)])
    assert warnings == []
    assert ("sadp", HIK, HIK_MAC) in _protocols(ex)
    assert (("mac", HIK, HIK_MAC) in _protocols(ex)) is with_mac


def test_ip_options_and_ethernet_padding() -> None:
    pkt = Ether(src=HIK_MAC) / IP(src=HIK, dst="239.255.255.250", options=[b"\x94\x04\x00\x00"])
    pkt = pkt / UDP(sport=37020, dport=37020) / Raw(SADP_REPLY)
    padded = bytes(pkt) + b"\x00" * 30  # trailer after the IP datagram is not payload
    ex, _ = _run([(1, padded)])
    sadp = [e for e in ex.out if e.protocol == "sadp"]
    assert len(sadp) == 1 and "Activated=true" in sadp[0].value


def test_later_fragments_and_segmentation_offload_lengths() -> None:
    frag = bytearray(bytes(Ether(src=HIK_MAC) / SADP))
    frag[20] = 0x00
    frag[21] = 0x10  # fragment offset 16: no UDP header here
    tso = bytearray(bytes(Ether(src=HIK_MAC) / SADP))
    tso[16:18] = b"\x00\x00"  # IPv4 total length 0, as offloaded captures show
    ex, _ = _run([(1, bytes(frag)), (1, bytes(tso))])
    assert [e.packet for e in ex.out if e.protocol == "sadp"] == [2]


def test_arp_probe_and_group_source_macs_are_ignored() -> None:
    probe = Ether(src=HIK_MAC) / ARP(hwsrc=HIK_MAC, psrc="0.0.0.0", pdst=HIK)
    group = Ether(src="01:00:5e:00:00:01") / IP(src="198.18.0.9", dst="198.18.0.1") / UDP()
    ex, warnings = _run([(1, bytes(probe)), (1, bytes(group))])
    assert ex.out == [] and warnings == []


def test_unsupported_link_type_is_warned_once() -> None:
    _, warnings = _run([(147, b"x" * 40), (147, b"y" * 40), (105, b"z" * 40)])
    assert warnings == [
        "link type 147 not supported (first at packet 1); skipped",
        "link type 105 not supported (first at packet 3); skipped",
    ]


@settings(max_examples=500, deadline=None)
@given(linktype=st.sampled_from([0, 1, 101, 108, 113, 228, 276, 999]), data=st.binary(max_size=200))
def test_random_frames_never_raise(linktype: int, data: bytes) -> None:
    _run([(linktype, data)])


def _prefixed_frames() -> st.SearchStrategy[bytes]:
    """Valid Ethernet/IPv4/UDP or TCP headers to an interesting port, random payload."""

    def build(proto: str, port: int, payload: bytes, cut: int) -> bytes:
        ip = IP(src=HIK, dst="198.18.0.1")
        l4 = (
            UDP(sport=port, dport=port)
            if proto == "udp"
            else TCP(sport=port, dport=50000, flags="PA")
        )
        frame = bytes(Ether(src=HIK_MAC) / ip / l4 / Raw(payload))
        return frame[: max(14, len(frame) - cut)]

    return st.builds(
        build,
        st.sampled_from(["udp", "tcp"]),
        st.sampled_from(sorted(UDP_PORTS | TCP_PORTS | {49152})),
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from(
                [b"HTTP/1.1 200 OK\r\n", b"RTSP/1.0 401 x\r\n\r\n", b"\x16\x03\x01\x00\x05"]
            ).flatmap(lambda p: st.binary(max_size=200).map(lambda r: p + r)),
        ),
        st.integers(0, 40),
    )


@settings(max_examples=600, deadline=None)
@given(frames=st.lists(_prefixed_frames(), max_size=6))
def test_random_payloads_on_interesting_ports_never_raise(frames: list[bytes]) -> None:
    ex, warnings = _run([(1, f) for f in frames])
    assert not [w for w in warnings if "parser failed" in w], warnings


def test_every_camera_packet_feeds_without_warnings() -> None:
    ex, warnings = _run([(1, bytes(p)) for p in camera_traffic()])
    assert warnings == []
    assert len(ex.out) > 15


# -- the kernel filter --------------------------------------------------------------------


PROGRAM = ethernet_program(UDP_PORTS, TCP_PORTS)


@pytest.mark.parametrize(
    "pkt,kept",
    [
        (Ether() / ARP(), True),
        (Ether() / SADP, True),
        (Ether() / Dot1Q() / SADP, False),  # the kernel strips VLAN tags before the filter
        (Ether() / IP() / UDP(sport=50000, dport=67), True),
        (Ether() / IP() / UDP(sport=5353, dport=5353), True),
        (Ether() / IP() / UDP(sport=443, dport=50000) / Raw(b"q" * 100), False),
        (Ether() / IP() / TCP(sport=80, dport=50000, flags="A") / Raw(b"HTTP/1.1"), True),
        (Ether() / IP() / TCP(sport=50000, dport=554, flags="PA"), True),
        (Ether() / IP() / TCP(sport=50000, dport=445, flags="PA") / Raw(b"smb"), False),
        (Ether() / IP() / TCP(sport=50000, dport=12345, flags="S"), True),
        (Ether() / IP() / TCP(sport=12345, dport=50000, flags="SA"), True),
        (Ether() / IP(options=[b"\x94\x04\x00\x00"]) / TCP(sport=554, dport=50000), True),
        (Ether() / IP(frag=100, proto=17) / Raw(b"\x00\x50" * 20), True),  # reassembled
        (Ether() / IPv6() / UDP(sport=5353, dport=5353), True),
        (Ether() / IPv6() / TCP(sport=80, dport=50000, flags="A"), True),
        (Ether() / IPv6() / TCP(sport=50000, dport=12345, flags="S"), True),
        (Ether() / IPv6() / UDP(sport=443, dport=50000) / Raw(b"q" * 100), False),
        (Ether() / IPv6() / TCP(sport=50000, dport=445, flags="PA") / Raw(b"smb"), False),
        (Ether() / IP(frag=100, proto=6) / Raw(b"\x00\x50" * 20), False),
        (Ether() / IP(flags="MF", proto=17) / UDP(sport=443, dport=50000), False),
        (Ether() / IP(flags="MF") / UDP(sport=3702, dport=3702), True),
    ],
)
def test_filter_program_keeps_only_what_is_read(pkt: object, kept: bool) -> None:
    assert (run_program(PROGRAM, bytes(pkt)) > 0) is kept  # type: ignore[call-overload]


def test_every_camera_packet_passes_the_filter() -> None:
    assert all(run_program(PROGRAM, bytes(p)) > 0 for p in camera_traffic())


def test_filter_program_is_accepted_by_the_kernel() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # never used to send
    try:
        attach(sock, PROGRAM)
    finally:
        sock.close()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_filter_program_on_random_bytes(data: bytes) -> None:
    assert run_program(PROGRAM, data) in (0, 0x40000)
