"""The simulator's announcements, checked byte by byte with an independent dissector (scapy)
and with the scanner's own parsers: what a device sends unasked must be what the standards
describe (WS-Discovery Hello/Bye, SSDP NOTIFY, RFC 5227 ARP announcement, RFC 2131
INIT-REBOOT DHCPREQUEST)."""

from __future__ import annotations

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from camscan.discovery import ssdp as ssdp_reader
from camscan.discovery import wsd as wsd_reader
from camscan.lab.devsim import announce, ssdp, wsd
from camscan.lab.personas import Persona, load_personas
from camscan.passive import dhcp as dhcp_reader


def persona(name: str) -> Persona:
    return next(p for p in load_personas() if p.name == name)


def test_wsd_hello_and_bye_read_back_as_the_probe_match_does() -> None:
    cam = persona("lts-cam")
    hello = wsd_reader.parse_message(wsd.build_hello(cam, 3))
    match = wsd_reader.parse_message(wsd.build_probe_matches(cam, "urn:uuid:x"))
    assert hello.action == "Hello"
    assert (hello.endpoint, hello.types, hello.scopes, hello.xaddrs) == (
        match.endpoint, match.types, match.scopes, match.xaddrs,
    )  # fmt: skip
    assert any("LTS" in s for s in hello.scopes)
    bye = wsd_reader.parse_message(wsd.build_bye(cam))
    assert (bye.action, bye.endpoint, bye.scopes) == ("Bye", hello.endpoint, [])
    assert b'AppSequence InstanceId="1" MessageNumber="3"' in wsd.build_hello(cam, 3)


def test_ssdp_notify_alive_and_byebye() -> None:
    nas = persona("nas")
    alive = [ssdp_reader.parse_response(m) for m in ssdp.notifies(nas)]
    targets = ssdp.targets(nas)
    assert [(m.nt, m.usn) for m in alive] == targets
    for m in alive:
        assert m.header("nts") == "ssdp:alive"
        assert m.location == ssdp.location(nas) and m.server == nas.block("ssdp")["server"]
        assert m.header("host") == "239.255.255.250:1900"
    bye = [ssdp_reader.parse_response(m) for m in ssdp.notifies(nas, "ssdp:byebye")]
    assert [(m.nt, m.usn, m.header("nts")) for m in bye] == [
        (nt, usn, "ssdp:byebye") for nt, usn in targets
    ]
    assert all(m.location is None and m.server is None for m in bye)


def test_arp_announcement() -> None:
    cam = persona("axis-cam")
    frame = Ether(announce.arp_announcement(cam.mac, cam.ip))
    assert frame.dst == "ff:ff:ff:ff:ff:ff" and frame.src == cam.mac
    arp = frame[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (
        1, cam.mac, cam.ip, "00:00:00:00:00:00", cam.ip,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["axis-cam", "printer", "nas", "office-pc"])
def test_dhcp_request_init_reboot(name: str) -> None:
    dev = persona(name)
    raw = announce.dhcp_request(dev, 0x1234ABCD)
    frame = Ether(raw)
    ip = frame[IP]
    assert (frame.dst, frame.src) == ("ff:ff:ff:ff:ff:ff", dev.mac)
    assert (ip.src, ip.dst, frame[UDP].sport, frame[UDP].dport) == (
        "0.0.0.0", "255.255.255.255", 68, 67,
    )  # fmt: skip
    rebuilt = IP(raw[14:])  # scapy recomputes the header checksum: the same
    del rebuilt.chksum
    assert IP(bytes(rebuilt)).chksum == ip.chksum
    assert len(frame[BOOTP]) >= 300
    assert frame[BOOTP].xid == 0x1234ABCD and frame[BOOTP].ciaddr == "0.0.0.0"
    opts = {o[0]: o[1] for o in frame[DHCP].options if isinstance(o, tuple)}
    assert opts["message-type"] == 3 and opts["requested_addr"] == dev.ip
    block = dev.block("dhcp")
    assert opts.get("hostname", b"").decode() == block.get("hostname", "")
    assert opts.get("vendor_class_id", b"").decode() == block.get("vendor_class", "")
    # and camscan's passive reader sees the same
    msg = dhcp_reader.parse(bytes(frame[BOOTP]))
    assert msg.requested_ip == dev.ip


def test_marker_frame_is_not_ip() -> None:
    payload = announce.marker_payload(7)
    assert payload.endswith(b" 7") and announce.MARKER_ETHERTYPE == 0x88B5
