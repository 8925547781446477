"""Evidence from camera traffic in captures: protocol, value, ip, mac, packet number."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, wrpcap
from test_passive_packets import (
    AXIS_IP,
    AXIS_MAC,
    DAHUA_IP,
    DAHUA_MAC,
    DHCP_VENDOR,
    HIK_IP,
    HIK_MAC,
    RESOLVER_IP,
    SCANNER_IP,
    SCANNER_MAC,
    UPNP_DESCRIPTION,
    camera_traffic,
    make_cert,
    tcp_segments,
    tls_server_flight,
)

from camscan.model import Evidence
from camscan.passive import PassiveStats, passive_evidence

T0 = 1_700_000_000.0


def _capture(tmp_path: Path, pkts: list, kind: str = "pcap") -> Path:
    for i, p in enumerate(pkts):
        p.time = T0 + i
    path = tmp_path / f"c.{kind}"
    if kind == "pcap":
        wrpcap(str(path), pkts)
    else:
        with PcapNgWriter(str(path)) as w:
            for p in pkts:
                w.write(p)
    return path


def _read(path: Path) -> list[Evidence]:
    return list(passive_evidence([str(path)]))


def _one(evidence: list[Evidence], protocol: str, ip: str | None = None) -> Evidence:
    found = [e for e in evidence if e.protocol == protocol and (ip is None or e.ip == ip)]
    assert len(found) == 1, (protocol, ip, found)
    return found[0]


@pytest.fixture(scope="module", params=["pcap", "pcapng"])
def evidence(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list:
    return _read(_capture(tmp_path_factory.mktemp("cap"), camera_traffic(), request.param))


def test_every_item_is_passive_with_packet_time_and_number(evidence: list[Evidence]) -> None:
    assert evidence
    for ev in evidence:
        assert ev.module == "passive"
        assert ev.packet is not None and 1 <= ev.packet <= 18
        assert ev.observed_at == pytest.approx(T0 + ev.packet - 1)


def test_arp_sender_gives_mac_evidence(evidence: list[Evidence]) -> None:
    ev = _one(evidence, "mac", HIK_IP)
    assert (ev.value, ev.mac, ev.packet) == (HIK_MAC, HIK_MAC, 1)


def test_sadp_probematch_not_the_inquiry(evidence: list[Evidence]) -> None:
    ev = _one(evidence, "sadp")
    assert ev.packet == 3 and ev.ip == HIK_IP and ev.mac == HIK_MAC
    assert "DeviceDescription=DS-2CD2143G0-I" in ev.value.splitlines()
    assert "SoftwareVersion=V5.5.0build 170725" in ev.value.splitlines()


def test_dahua_reply_not_the_search(evidence: list[Evidence]) -> None:
    ev = _one(evidence, "dahua_discovery")
    assert ev.packet == 5 and ev.ip == DAHUA_IP and ev.mac == DAHUA_MAC
    assert "DeviceType=IPC-HFW2228M-I1-V2" in ev.value.splitlines()


def test_wsd_hello(evidence: list[Evidence]) -> None:
    scopes = _one(evidence, "wsd_scopes")
    assert scopes.packet == 6 and scopes.ip == DAHUA_IP
    assert "onvif://www.onvif.org/name/Dahua" in scopes.value.split()
    assert _one(evidence, "wsd_types").value == "NetworkVideoTransmitter"


def test_ssdp_notify_not_the_msearch(evidence: list[Evidence]) -> None:
    ev = _one(evidence, "ssdp_server")
    assert ev.packet == 8 and ev.ip == AXIS_IP
    assert ev.value.startswith("Linux/4.9.0-axis1, UPnP/1.0")


def test_dhcp_options_and_client_mac(evidence: list[Evidence]) -> None:
    vendor = _one(evidence, "dhcp_vendor_class")
    assert vendor.value == DHCP_VENDOR.decode()
    assert (vendor.ip, vendor.mac, vendor.packet) == (AXIS_IP, AXIS_MAC, 9)
    assert _one(evidence, "dhcp_hostname").value == "axis-accc8e000041"
    assert _one(evidence, "dhcp_params").value == "1,3,6,12,15,28,42"
    assert _one(evidence, "mac", AXIS_IP).value == AXIS_MAC


def test_http_response_over_two_segments(evidence: list[Evidence]) -> None:
    server = _one(evidence, "http_server")
    assert (server.value, server.ip, server.port, server.packet) == ("App-webs/", HIK_IP, 80, 12)
    assert server.source == f"http://{HIK_IP}:80/doc/page/login.asp"
    assert _one(evidence, "html_title").value == "Hikvision Login"
    assert _one(evidence, "open_port", HIK_IP).value == "80/tcp"


def test_rtsp_401(evidence: list[Evidence]) -> None:
    assert _one(evidence, "rtsp_server").value == "Dahua Rtsp Server"
    auth = _one(evidence, "rtsp_wwwauth")
    assert (auth.value, auth.ip, auth.port, auth.packet) == (
        'Basic realm="device"',
        DAHUA_IP,
        554,
        14,
    )


def test_tls_certificate_over_two_segments(evidence: list[Evidence]) -> None:
    subject = _one(evidence, "x509_subject")
    assert (subject.ip, subject.port, subject.packet) == (HIK_IP, 443, 15)
    assert subject.value == "CN=www.hikvision.com,O=HIKVISION,C=CN"


def test_dns_query_for_vendor_cloud(evidence: list[Evidence]) -> None:
    ev = _one(evidence, "dns_query")
    assert (ev.value, ev.ip, ev.packet) == ("litedev.hik-connect.com", HIK_IP, 17)


def test_mdns_announcement(evidence: list[Evidence]) -> None:
    svc = _one(evidence, "mdns_service")
    assert svc.value == "AXIS M3045-V - ACCC8E000041._axis-video._tcp.local."
    assert (svc.ip, svc.packet) == (AXIS_IP, 18)
    assert _one(evidence, "mdns_txt").value == "macaddress=ACCC8E000041"


def test_source_macs_become_mac_evidence_once(evidence: list[Evidence]) -> None:
    macs = {(e.value, e.ip) for e in evidence if e.protocol == "mac"}
    assert (DAHUA_MAC, DAHUA_IP) in macs
    assert (SCANNER_MAC, SCANNER_IP) in macs
    assert len([e for e in evidence if e.protocol == "mac"]) == len(macs)


def test_nothing_from_inquiries(evidence: list[Evidence]) -> None:
    assert not [e for e in evidence if e.packet in (2, 4, 7) and e.protocol != "mac"]


# -- the finer points ----------------------------------------------------------------------


def test_repeated_announcements_are_reported_once(tmp_path: Path) -> None:
    notify = camera_traffic()[7]
    ev = _read(_capture(tmp_path, [notify.copy() for _ in range(50)]))
    assert [e.packet for e in ev if e.protocol == "ssdp_server"] == [1]


def test_router_mac_is_not_given_to_remote_addresses(tmp_path: Path) -> None:
    gw = "02:00:00:00:00:fe"
    pkts = [
        Ether(src=gw, dst=SCANNER_MAC) / IP(src=f"93.184.{i}.1", dst=SCANNER_IP)
        / TCP(sport=443, dport=40000 + i, flags="A")
        for i in range(10)
    ]  # fmt: skip
    pkts.append(
        Ether(src=gw, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=gw, psrc="198.18.0.254", pdst=SCANNER_IP)
    )
    macs = [(e.value, e.ip) for e in _read(_capture(tmp_path, pkts)) if e.protocol == "mac"]
    assert macs == [(gw, "198.18.0.254")]


def test_few_remote_addresses_behind_a_lan_host_are_dropped(tmp_path: Path) -> None:
    gw = "02:00:00:00:00:fe"
    pkts = [
        Ether(src=gw, dst=SCANNER_MAC) / IP(src=src, dst=SCANNER_IP) / UDP(sport=123, dport=123)
        for src in ("198.18.0.254", "93.184.216.34")
    ]  # fmt: skip
    macs = [(e.value, e.ip) for e in _read(_capture(tmp_path, pkts)) if e.protocol == "mac"]
    assert macs == [(gw, "198.18.0.254")]


def test_dns_queries_of_a_resolver_are_not_its_own(tmp_path: Path) -> None:
    pkts = [
        Ether() / IP(src=RESOLVER_IP, dst="9.9.9.9") / UDP(sport=33000, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="p2p.easy4ipcloud.com")),
        Ether() / IP(src=RESOLVER_IP, dst=DAHUA_IP) / UDP(sport=53, dport=33001)
        / DNS(qr=1, qd=DNSQR(qname="p2p.easy4ipcloud.com")),
        Ether() / IP(src=DAHUA_IP, dst=RESOLVER_IP) / UDP(sport=33001, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="P2P.Easy4ipCloud.com.")),
        Ether() / IP(src=DAHUA_IP, dst=RESOLVER_IP) / UDP(sport=33002, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="www.example.com")),
    ]  # fmt: skip
    found = [
        (e.ip, e.value, e.packet)
        for e in _read(_capture(tmp_path, pkts))
        if e.protocol == "dns_query"
    ]
    assert found == [(DAHUA_IP, "p2p.easy4ipcloud.com", 3)]


def test_upnp_description_fetched_by_someone_else(tmp_path: Path) -> None:
    notify = camera_traffic()[7]  # LOCATION http://198.18.0.41:49152/rootdesc.xml
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
    answer = head % len(UPNP_DESCRIPTION) + UPNP_DESCRIPTION
    request = (
        Ether(src=SCANNER_MAC, dst=AXIS_MAC)
        / IP(src=SCANNER_IP, dst=AXIS_IP)
        / TCP(sport=41000, dport=49152, flags="PA", seq=1)
        / Raw(b"GET /rootdesc.xml HTTP/1.1\r\n\r\n")
    )
    segs = tcp_segments(
        (AXIS_IP, AXIS_MAC, 49152), (SCANNER_IP, SCANNER_MAC, 41000), answer, sizes=[100]
    )
    ev = _read(_capture(tmp_path, [notify, request, *segs]))
    assert _one(ev, "upnp_manufacturer").value == "AXIS"
    model = _one(ev, "upnp_model")
    assert (model.value, model.ip, model.port) == ("AXIS M3045-V", AXIS_IP, 49152)
    assert model.source == f"http://{AXIS_IP}:49152/rootdesc.xml"


def test_out_of_order_and_retransmitted_segments(tmp_path: Path) -> None:
    cert = make_cert(cn="axis-accc8e000041", org="Axis Communications AB")
    segs = tcp_segments(
        (AXIS_IP, AXIS_MAC, 443),
        (SCANNER_IP, SCANNER_MAC, 40005),
        tls_server_flight(cert, record_split=90),
        sizes=[50, 120, 40],
        fin=False,
    )
    pkts = [segs[0], segs[2], segs[0].copy(), segs[1], segs[1].copy(), segs[3]]
    subject = _one(_read(_capture(tmp_path, pkts)), "x509_subject")
    assert subject.value == "CN=axis-accc8e000041,O=Axis Communications AB,C=CN"
    assert subject.packet == 1


def test_tls13_server_hello_gives_nothing(tmp_path: Path) -> None:
    from test_passive_packets import server_hello

    hello = server_hello(tls13=True)
    flight = b"\x16\x03\x03" + len(hello).to_bytes(2, "big") + hello
    flight += b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x20" + bytes(32)
    segs = tcp_segments((HIK_IP, HIK_MAC, 443), (SCANNER_IP, SCANNER_MAC, 40006), flight, sizes=[])
    ev = _read(_capture(tmp_path, segs))
    assert not [e for e in ev if e.protocol.startswith("x509")]


def test_unfinished_http_answer_is_read_at_the_end(tmp_path: Path) -> None:
    head = (
        b"HTTP/1.0 401 Unauthorized\r\n"
        b'WWW-Authenticate: Digest realm="Login to ND012345678"\r\n\r\n'
    )
    segs = tcp_segments(
        (DAHUA_IP, DAHUA_MAC, 80),
        (SCANNER_IP, SCANNER_MAC, 40007),
        head + b"<html>",
        sizes=[],
        fin=False,
    )
    ev = _read(_capture(tmp_path, segs))
    assert _one(ev, "http_wwwauth").value == 'Digest realm="Login to ND012345678"'
    assert _one(ev, "http_body").value.startswith("GET ? -> 401")  # the request was not seen


def test_chunked_body_title(tmp_path: Path) -> None:
    body = b"<html><head><title>WEB SERVICE</title></head></html>"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
    segs = tcp_segments((DAHUA_IP, DAHUA_MAC, 80), (SCANNER_IP, SCANNER_MAC, 40008), answer,
                        sizes=[60], fin=False)  # fmt: skip
    assert _one(_read(_capture(tmp_path, segs)), "html_title").value == "WEB SERVICE"


def test_stats_count_packets_and_evidence(tmp_path: Path) -> None:
    stats = PassiveStats()
    path = _capture(tmp_path, camera_traffic())
    items = list(passive_evidence([str(path), str(path)], stats=stats))
    assert stats.files == 2 and stats.packets == 36
    assert stats.evidence == len(items)
    assert stats.warnings == []


def test_deferred_items_name_the_file_they_came_from(tmp_path: Path) -> None:
    traffic = camera_traffic()
    first = tmp_path / "first.pcap"
    wrpcap(str(first), [traffic[16]])  # the DNS query of the Hikvision camera
    second = _capture(tmp_path, [traffic[0]])  # an ARP reply
    ev = list(passive_evidence([str(first), str(second)]))
    dns = _one(ev, "dns_query")
    assert (dns.source, dns.packet) == (str(first), 1)
    assert _one(ev, "mac", HIK_IP).source == str(second)
