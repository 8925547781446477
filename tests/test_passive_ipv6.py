"""IPv6 in passive mode: link types, extension headers, neighbor discovery as IPv6's ARP, a
camera heard over IPv4 and IPv6 link-local as one device, the kernel filter, and broken
IPv6 headers that must be skipped without error."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw
from test_passive_packets import (
    AXIS_IP,
    AXIS_MAC,
    SCANNER_MAC,
    SSDP_NOTIFY,
    UPNP_DESCRIPTION,
    WSD_HELLO,
    tcp_segments,
)
from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText, const

from camscan.fingerprint.engine import Engine
from camscan.fusion import fuse, group_by_host
from camscan.model import Evidence
from camscan.passive.bpf import attach, ethernet_program, run_program
from camscan.passive.extract import TCP_PORTS, UDP_PORTS, Extractor
from camscan.passive.fastpath import MAX_EXTENSIONS, FastPath
from camscan.passive.macs import eui64
from camscan.passive.mdnsread import mdns_services

AXIS_LL = "fe80::aecc:8eff:fe00:41"  # the Axis camera's EUI-64 link-local address
AXIS_GLOBAL = "2001:db8:1:0:aecc:8eff:fe00:41"
AXIS_TEMP = "2001:db8:1:0:1234:5678:9abc:def0"  # a temporary (random) address
SCANNER_LL = "fe80::1"
INSTANCE = "AXIS M3045-V - ACCC8E000041._axis-video._tcp.local."
MDNS6 = ("ff02::fb", "33:33:00:00:00:fb")
WSD6 = ("ff02::c", "33:33:00:00:00:0c")


def _run(frames: list[tuple[int, bytes]]) -> tuple[Extractor, list[str]]:
    warnings: list[str] = []
    ex = Extractor(warnings.append)
    fast = FastPath(ex, warnings.append)
    for n, (linktype, data) in enumerate(frames, 1):
        fast.feed(n, 1.0 + n, linktype, data)
    ex.finish()
    return ex, warnings


def _eth(pkts: list[Packet]) -> list[Evidence]:
    ex, warnings = _run([(1, bytes(p)) for p in pkts])
    assert not [w for w in warnings if "parser failed" in w], warnings
    return ex.out


def _found(evidence: list[Evidence]) -> set[tuple[str, str | None, str | None]]:
    return {(e.protocol, e.ip, e.mac) for e in evidence}


def mdns_v6_announcement(*, with_a: bool = False) -> bytes:
    """The Axis camera's announcement as an IPv6-only responder sends it: AAAA records for
    its link-local and global addresses (and an A record when with_a)."""
    host = "axis-accc8e000041.local."
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    unique = const._CLASS_IN | const._CLASS_UNIQUE
    out.add_answer_at_time(
        DNSPointer("_axis-video._tcp.local.", const._TYPE_PTR, const._CLASS_IN, 4500, INSTANCE),
        0,
    )
    out.add_answer_at_time(DNSService(INSTANCE, const._TYPE_SRV, unique, 120, 0, 0, 80, host), 0)
    out.add_answer_at_time(
        DNSText(INSTANCE, const._TYPE_TXT, unique, 4500, b"\x17macaddress=ACCC8E000041"), 0
    )
    for addr in (AXIS_LL, AXIS_GLOBAL):
        raw = socket.inet_pton(socket.AF_INET6, addr)
        out.add_answer_at_time(DNSAddress(host, const._TYPE_AAAA, unique, 120, raw), 0)
    if with_a:
        raw = socket.inet_aton(AXIS_IP)
        out.add_answer_at_time(DNSAddress(host, const._TYPE_A, unique, 120, raw), 0)
    return out.packets()[0]


def _mdns6(payload: bytes, src: str = AXIS_LL) -> Packet:
    return (
        Ether(src=AXIS_MAC, dst=MDNS6[1]) / IPv6(src=src, dst=MDNS6[0])
        / UDP(sport=5353, dport=5353) / Raw(payload)
    )  # fmt: skip


def _axis_arp() -> Packet:
    return Ether(src=AXIS_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=AXIS_MAC, psrc=AXIS_IP, pdst="198.18.0.1"
    )


# -- one device over IPv4 and IPv6 ---------------------------------------------------------


@pytest.mark.parametrize("arp_first", [True, False])
def test_mdns_over_ipv6_link_local_and_arp_are_one_device(arp_first: bool) -> None:
    pkts = [_axis_arp(), _mdns6(mdns_v6_announcement())]
    evidence = _eth(pkts if arp_first else pkts[::-1])
    assert ("mdns_service", AXIS_LL, None) in _found(evidence)
    assert ("mac", AXIS_LL, AXIS_MAC) in _found(evidence)
    assert ("mac", AXIS_IP, AXIS_MAC) in _found(evidence)
    devices = fuse(evidence, Engine.load())
    assert len(devices) == 1
    device = devices[0]
    assert device.mac == AXIS_MAC and device.ip == AXIS_IP  # IPv4 names a dual-stack device
    assert device.manufacturer == "Axis"
    assert {e.protocol for e, _ in device.evidence} >= {"mdns_service", "mdns_txt", "mac"}


def test_mdns_a_record_does_not_move_the_instance_to_another_address() -> None:
    # The A record is the sender's word; the evidence stays with the sender's address (its
    # MAC ties it to the device's IPv4 address where ARP shows that one).
    evidence = _eth([_mdns6(mdns_v6_announcement(with_a=True))])
    services = [e for e in evidence if e.protocol == "mdns_service"]
    assert [e.ip for e in services] == [AXIS_LL]


def test_ipv6_only_device_is_listed_by_its_ipv6_address() -> None:
    devices = fuse(_eth([_mdns6(mdns_v6_announcement())]), Engine.load())
    assert [(d.ip, d.mac, d.manufacturer) for d in devices] == [(AXIS_LL, AXIS_MAC, "Axis")]


def test_mdnsread_keeps_aaaa_apart_from_a() -> None:
    (svc,) = mdns_services(mdns_v6_announcement(with_a=True))
    assert svc.addresses == [AXIS_IP]
    assert svc.addresses6 == [AXIS_LL, AXIS_GLOBAL]
    (svc,) = mdns_services(mdns_v6_announcement())
    assert svc.addresses == [] and svc.addresses6 == [AXIS_LL, AXIS_GLOBAL]


def _ev(ip: str, protocol: str = "http_server", module: str = "passive") -> Evidence:
    return Evidence(module=module, protocol=protocol, value="x", ip=ip, mac=AXIS_MAC)


def _link(ip: str) -> Evidence:
    """The link layer shows AXIS_MAC for `ip` (ARP, neighbor discovery, a frame)."""
    return Evidence(module="passive", protocol="mac", value=AXIS_MAC, ip=ip, mac=AXIS_MAC)


@pytest.mark.parametrize(
    "ips,expected",
    [
        ([AXIS_IP, AXIS_LL], AXIS_IP),
        ([AXIS_LL, AXIS_IP], AXIS_IP),
        ([AXIS_LL, AXIS_IP, AXIS_GLOBAL], AXIS_IP),
        ([AXIS_LL, AXIS_GLOBAL], AXIS_GLOBAL),
        ([AXIS_GLOBAL, AXIS_LL], AXIS_LL),  # within a family the last still wins
    ],
)
def test_fusion_prefers_the_ipv4_address(ips: list[str], expected: str) -> None:
    (host,) = group_by_host([_link(ip) for ip in ips] + [_ev(ip) for ip in ips])
    assert host.ip == expected


def test_fusion_stated_address_and_mac_stay_apart_from_the_seen_ones() -> None:
    # An SADP answer from 0.0.0.0 names its address (198.18.0.99) and a MAC in its payload:
    # the MAC the link layer shows for AXIS_IP. A payload MAC merges nothing (issue 13).
    hosts = group_by_host([_link(AXIS_LL), _link(AXIS_IP), _ev("198.18.0.99", "sadp", "sadp")])
    assert sorted((h.key, h.ip) for h in hosts) == [
        ("ip:198.18.0.99", "198.18.0.99"),
        (f"mac:{AXIS_MAC}", AXIS_IP),
    ]
    stated = next(h for h in hosts if h.ip == "198.18.0.99")
    assert stated.notes == [f"sadp answer states MAC {AXIS_MAC}, the MAC of {AXIS_IP}"]


# -- discovery and HTTP over IPv6 ----------------------------------------------------------


def test_wsd_hello_and_ssdp_notify_over_ipv6() -> None:
    notify = SSDP_NOTIFY.replace(
        b"http://198.18.0.41:49152/", f"http://[{AXIS_LL}]:49153/".encode()
    )
    ex, warnings = _run(
        [
            (1, bytes(Ether(src=AXIS_MAC, dst=WSD6[1]) / IPv6(src=AXIS_LL, dst=WSD6[0])
                      / UDP(sport=3702, dport=3702) / Raw(WSD_HELLO))),
            (1, bytes(Ether(src=AXIS_MAC, dst=WSD6[1]) / IPv6(src=AXIS_LL, dst=WSD6[0])
                      / UDP(sport=1900, dport=1900) / Raw(notify))),
        ]
    )  # fmt: skip
    assert warnings == []
    found = _found(ex.out)
    assert {("wsd_types", AXIS_LL, None), ("wsd_scopes", AXIS_LL, None)} <= found
    assert ("ssdp_server", AXIS_LL, None) in found
    assert 49153 in ex.tcp_ports  # the description's port, from a bracketed LOCATION


def test_http_answer_and_upnp_description_over_ipv6() -> None:
    head = b"HTTP/1.1 200 OK\r\nServer: Linux UPnP\r\nContent-Length: %d\r\n\r\n"
    answer = head % len(UPNP_DESCRIPTION) + UPNP_DESCRIPTION
    request = (
        Ether(src=SCANNER_MAC, dst=AXIS_MAC) / IPv6(src=SCANNER_LL, dst=AXIS_LL)
        / TCP(sport=40000, dport=80, flags="PA", seq=1)
        / Raw(b"GET /rootdesc.xml HTTP/1.1\r\nHost: x\r\n\r\n")
    )  # fmt: skip
    segments = [
        Ether(src=AXIS_MAC, dst=SCANNER_MAC) / IPv6(src=AXIS_LL, dst=SCANNER_LL) / p[TCP]
        for p in tcp_segments((AXIS_IP, AXIS_MAC, 80), ("198.18.0.1", SCANNER_MAC, 40000),
                              answer, sizes=[60])
    ]  # fmt: skip
    evidence = _eth([request, *segments])
    server = [e for e in evidence if e.protocol == "http_server"]
    assert [(e.ip, e.value) for e in server] == [(AXIS_LL, "Linux UPnP")]
    upnp = [e for e in evidence if e.protocol.startswith("upnp")]
    assert upnp and all(e.ip == AXIS_LL for e in upnp)
    assert any(e.source == f"http://[{AXIS_LL}]:80/rootdesc.xml" for e in upnp)


# -- link types ----------------------------------------------------------------------------

WSD_V6 = IPv6(src=AXIS_LL, dst=WSD6[0]) / UDP(sport=3702, dport=3702) / Raw(WSD_HELLO)
AXIS = bytes.fromhex(AXIS_MAC.replace(":", ""))


@pytest.mark.parametrize(
    "linktype,frame,with_mac",
    [
        (1, bytes(Ether(src=AXIS_MAC) / WSD_V6), True),
        (1, bytes(Ether(src=AXIS_MAC) / Dot1Q(vlan=7) / WSD_V6), True),
        (113, struct.pack("!HHH8sH", 0, 1, 6, AXIS + b"\0\0", 0x86DD) + bytes(WSD_V6), True),
        (276, struct.pack("!HHIHBB8s", 0x86DD, 0, 2, 1, 0, 6, AXIS + b"\0\0") + bytes(WSD_V6), True),
        (101, bytes(WSD_V6), False),
        (229, bytes(WSD_V6), False),
        *((0, struct.pack("<I", fam) + bytes(WSD_V6), False) for fam in (24, 28, 30)),
        *((0, struct.pack(">I", fam) + bytes(WSD_V6), False) for fam in (24, 28, 30)),
        *((108, struct.pack(">I", fam) + bytes(WSD_V6), False) for fam in (24, 28, 30)),
    ],
)  # fmt: skip
def test_ipv6_link_types(linktype: int, frame: bytes, with_mac: bool) -> None:
    ex, warnings = _run([(linktype, frame)])
    assert warnings == []
    assert ("wsd_types", AXIS_LL, None) in _found(ex.out)
    assert (("mac", AXIS_LL, AXIS_MAC) in _found(ex.out)) is with_mac


def test_null_family_that_is_neither_ip_is_skipped() -> None:
    ex, warnings = _run([(0, struct.pack("<I", 23) + bytes(WSD_V6))])
    assert ex.out == [] and warnings == []


# -- extension headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext",
    [
        IPv6ExtHdrHopByHop(),
        IPv6ExtHdrDestOpt(),
        IPv6ExtHdrRouting(addresses=["2001:db8::1"]),
        IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt(),
        IPv6ExtHdrFragment(offset=0, m=0, id=7),  # an atomic fragment (RFC 6946)
        IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(offset=0, m=0, id=7) / IPv6ExtHdrDestOpt(),
    ],
)
def test_extension_headers_are_walked(ext: Packet) -> None:
    pkt = Ether(src=AXIS_MAC) / IPv6(src=AXIS_LL, dst=WSD6[0]) / ext / WSD_V6[UDP]
    assert ("wsd_types", AXIS_LL, None) in _found(_eth([pkt]))


def _chain(count: int) -> bytes:
    """IPv6 + `count` destination options headers + the WS-Discovery Hello."""
    udp = bytes(WSD_V6[UDP])
    exts = b"".join(bytes([60 if i < count - 1 else 17, 0]) + bytes(6) for i in range(count))
    head = IPv6(src=AXIS_LL, dst=WSD6[0], nh=60 if count else 17, plen=len(exts) + len(udp))
    return bytes(Ether(src=AXIS_MAC, type=0x86DD)) + bytes(head)[:40] + exts + udp


def test_a_long_extension_header_chain_is_given_up() -> None:
    ex, _ = _run([(1, _chain(MAX_EXTENSIONS))])
    assert ("wsd_types", AXIS_LL, None) in _found(ex.out)
    ex, warnings = _run([(1, _chain(MAX_EXTENSIONS + 1)), (1, _chain(200))])
    assert [e.protocol for e in ex.out] == ["mac"] and warnings == []


def test_extension_header_longer_than_the_packet() -> None:
    frame = bytearray(_chain(1))
    frame[14 + 40 + 1] = 255  # destination options claiming 2 KiB
    ex, warnings = _run([(1, bytes(frame))])
    assert [e.protocol for e in ex.out] == ["mac"] and warnings == []


def test_every_truncation_of_ipv6_frames_is_skipped() -> None:
    frames = [
        bytes(Ether(src=AXIS_MAC) / WSD_V6),
        _chain(3),
        bytes(Ether(src=AXIS_MAC) / IPv6(src=AXIS_LL) / IPv6ExtHdrFragment(m=1, id=1)
              / WSD_V6[UDP]),
        bytes(Ether(src=AXIS_MAC, dst="33:33:00:00:00:01")
              / IPv6(src=AXIS_LL, dst="ff02::1", hlim=255)
              / ICMPv6ND_NA(tgt=AXIS_GLOBAL) / ICMPv6NDOptDstLLAddr(lladdr=AXIS_MAC)),
    ]  # fmt: skip
    for frame in frames:
        for cut in range(len(frame)):
            for linktype, data in ((1, frame[:cut]), (101, frame[14:cut])):
                _run([(linktype, data)])  # no exception


@settings(max_examples=500, deadline=None)
@given(
    nh=st.sampled_from([0, 6, 17, 43, 44, 51, 58, 60, 59, 255]),
    plen=st.integers(0, 0xFFFF),
    rest=st.binary(max_size=160),
    linktype=st.sampled_from([1, 101]),
)
def test_random_bytes_after_an_ipv6_header_never_raise(
    nh: int, plen: int, rest: bytes, linktype: int
) -> None:
    head = bytearray(bytes(IPv6(src=AXIS_LL, dst="ff02::fb", hlim=255))[:40])
    head[4:6] = plen.to_bytes(2, "big")
    head[6] = nh
    frame = bytes(head) + rest
    if linktype == 1:
        frame = bytes(Ether(src=AXIS_MAC, type=0x86DD)) + frame
    _, warnings = _run([(linktype, frame)])
    assert not [w for w in warnings if "parser failed" in w]


# -- neighbor discovery: IPv6's ARP --------------------------------------------------------


def _nd(src: str, msg: Packet, hlim: int = 255, mac: str = AXIS_MAC) -> Packet:
    return Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=src, dst="ff02::1", hlim=hlim) / msg


def test_neighbor_advertisement_binds_its_target() -> None:
    na = _nd(
        AXIS_LL, ICMPv6ND_NA(tgt=AXIS_TEMP, R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=AXIS_MAC)
    )
    assert ("mac", AXIS_TEMP, AXIS_MAC) in _found(_eth([na]))


def test_neighbor_solicitation_binds_its_source_at_once() -> None:
    ns = _nd(AXIS_TEMP, ICMPv6ND_NS(tgt="2001:db8:1::1") / ICMPv6NDOptSrcLLAddr(lladdr=AXIS_MAC))
    ex = Extractor(lambda _m: None)
    FastPath(ex, lambda _m: None).feed(1, 1.0, 1, bytes(ns))
    # stated, not a candidate: there before the end of the traffic
    assert _found(ex.out) == {("mac", AXIS_TEMP, AXIS_MAC)}


def test_router_advertisement_binds_the_router() -> None:
    ra = _nd("fe80::fe", ICMPv6ND_RA() / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:fe"),
             mac="02:00:00:00:00:fe")  # fmt: skip
    assert ("mac", "fe80::fe", "02:00:00:00:00:fe") in _found(_eth([ra]))


@pytest.mark.parametrize(
    "pkt",
    [
        # duplicate address detection: from ::, no binding
        _nd("::", ICMPv6ND_NS(tgt=AXIS_TEMP) / ICMPv6NDOptSrcLLAddr(lladdr=AXIS_MAC)),
        # forwarded (hop limit below 255): not from this link
        _nd("2001:db8:9::1", ICMPv6ND_NA(tgt=AXIS_TEMP) / ICMPv6NDOptDstLLAddr(lladdr=AXIS_MAC),
            hlim=64),
        # a group MAC, and a zero-length option
        _nd("2001:db8:9::1", ICMPv6ND_NA(tgt=AXIS_TEMP)
            / ICMPv6NDOptDstLLAddr(lladdr="01:00:5e:00:00:01")),
        _nd("2001:db8:9::1", ICMPv6ND_NA(tgt=AXIS_TEMP) / Raw(b"\x02\x00" + AXIS)),
        # an NA for a multicast target
        _nd("2001:db8:9::1", ICMPv6ND_NA(tgt="ff02::1") / ICMPv6NDOptDstLLAddr(lladdr=AXIS_MAC)),
    ],
)  # fmt: skip
def test_neighbor_discovery_that_binds_nothing(pkt: Packet) -> None:
    assert not [e for e in _eth([pkt]) if e.ip in (AXIS_TEMP, "ff02::1", "::")]


# -- source MACs of IPv6 frames ------------------------------------------------------------


def _udp6(src: str, mac: str, dport: int = 5353) -> Packet:
    return Ether(src=mac) / IPv6(src=src, dst="ff02::fb") / UDP(sport=dport, dport=dport)


def test_link_local_and_eui64_sources_bind_at_once_others_are_candidates() -> None:
    pkts = [_udp6(AXIS_LL, AXIS_MAC), _udp6(AXIS_GLOBAL, AXIS_MAC), _udp6(AXIS_TEMP, AXIS_MAC)]
    ex, _ = _run([(1, bytes(p)) for p in pkts])
    assert [(e.ip, e.mac, e.packet) for e in ex.out if e.protocol == "mac"] == [
        (AXIS_LL, AXIS_MAC, 1),
        (AXIS_GLOBAL, AXIS_MAC, 2),
        (AXIS_TEMP, AXIS_MAC, 3),  # a candidate: reported at the end
    ]


def test_router_forwarding_ipv6_keeps_its_own_and_loses_the_others() -> None:
    router = "02:00:00:00:00:fe"
    remote = [f"2600:1f18::{i}" for i in range(1, 7)]
    pkts = [_udp6("fe80::fe", router), *(_udp6(ip, router) for ip in remote)]
    pkts.append(Ether(src=router) / IP(src="198.18.0.254", dst="198.18.0.9") / UDP())
    macs = {(e.ip, e.mac) for e in _eth(pkts) if e.protocol == "mac"}
    assert macs == {("fe80::fe", router), ("198.18.0.254", router)}


def test_stated_bindings_hide_candidates_of_their_own_family_only() -> None:
    ns = _nd(AXIS_LL, ICMPv6ND_NS(tgt=SCANNER_LL) / ICMPv6NDOptSrcLLAddr(lladdr=AXIS_MAC))
    v4 = Ether(src=AXIS_MAC) / IP(src="198.18.0.77", dst="198.18.0.1") / UDP()
    v6 = _udp6(AXIS_TEMP, AXIS_MAC)
    # ARP states the IPv4 address: the IPv4 candidate goes, the IPv6 one stays
    macs = {e.ip for e in _eth([_axis_arp(), v6, v4]) if e.protocol == "mac"}
    assert macs == {AXIS_IP, AXIS_TEMP}
    # neighbor discovery states an IPv6 address: the other way round
    macs = {e.ip for e in _eth([ns, v6, v4]) if e.protocol == "mac"}
    assert macs == {AXIS_LL, "198.18.0.77"}


def test_unspecified_multicast_and_loopback_sources_bind_nothing() -> None:
    pkts = [_udp6(ip, AXIS_MAC) for ip in ("::", "ff02::1", "::1")]
    assert _eth(pkts) == []


def test_eui64() -> None:
    assert eui64(AXIS) == bytes.fromhex("aecc8efffe000041")


# -- the kernel filter ---------------------------------------------------------------------

PROGRAM = ethernet_program(UDP_PORTS, TCP_PORTS)
FILTER_CASES = [
    (Ether() / WSD_V6, True),
    (_mdns6(b"x"), True),
    (Ether() / IPv6() / IPv6ExtHdrFragment(m=1) / UDP(sport=3702, dport=3702), True),
    (Ether() / IPv6() / IPv6ExtHdrFragment(m=1) / UDP(sport=4500, dport=4500), False),
    (Ether() / IPv6() / IPv6ExtHdrFragment(offset=100, nh=17) / Raw(b"x" * 64), True),
    (Ether() / IPv6() / IPv6ExtHdrFragment(offset=100, nh=6) / Raw(b"x" * 64), False),
    (_nd(AXIS_LL, ICMPv6ND_NA(tgt=AXIS_LL) / ICMPv6NDOptDstLLAddr(lladdr=AXIS_MAC)), True),
    (_nd(AXIS_LL, ICMPv6ND_NS(tgt=AXIS_LL) / ICMPv6NDOptSrcLLAddr(lladdr=AXIS_MAC)), True),
    (_nd("fe80::fe", ICMPv6ND_RA() / ICMPv6NDOptSrcLLAddr(lladdr=AXIS_MAC)), True),
    (Ether() / IPv6(nh=58) / Raw(bytes([128, 0]) + bytes(30)), False),  # echo request
    (Ether() / IPv6() / IPv6ExtHdrHopByHop() / UDP(sport=5353, dport=5353), False),
    (Ether() / IPv6() / UDP(sport=50000, dport=443), False),
    (Ether() / IP(flags="MF", id=1) / UDP(sport=3702, dport=3702), True),
    (Ether() / IP(frag=100, proto=17, id=1) / Raw(b"x" * 64), True),
    (Ether() / IP(flags="MF", id=2) / UDP(sport=4500, dport=4500), False),
]


@pytest.mark.parametrize("pkt,kept", FILTER_CASES)
def test_filter_program_on_ipv6(pkt: Packet, kept: bool) -> None:
    assert (run_program(PROGRAM, bytes(pkt)) > 0) is kept


def test_the_kernel_runs_the_filter_as_the_interpreter_does() -> None:
    """The program attached to one end of a local datagram socket pair: the kernel keeps
    exactly the frames the interpreter keeps (nothing leaves the machine)."""
    frames = [bytes(p) for p, _ in FILTER_CASES]
    ins, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        attach(ins, PROGRAM)
        for frame in frames:
            peer.send(frame)  # a frame the filter drops is dropped silently
        ins.setblocking(False)
        got = []
        while True:
            try:
                got.append(ins.recv(1 << 16))
            except BlockingIOError:
                break
    finally:
        ins.close()
        peer.close()
    assert got == [f for f, (_, kept) in zip(frames, FILTER_CASES, strict=True) if kept]
