"""Issue 13, item 4: identity is a MAC only where the MAC is seen on the segment.

In a capture taken where traffic crosses a router, the cameras behind it reach the capture
with the router's MAC. Before the fix, up to four addresses sending with one MAC were each
given that MAC, so three cameras and the router's own answers were folded into one device
named after whichever answered last; a MAC stated inside a discovery answer (SADP, Dahua,
vendor) also merged two addresses that stated the same one (cloned firmware, a liar), and a
MAC the link layer showed for several addresses (proxy ARP) merged them all. Now each address
behind the router is a device of its own, the router is one too, and a payload MAC merges
nothing.

The captures are built with scapy and read by a real `camscan passive` run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap
from test_passive_packets import HTTP_BODY, HTTP_HEAD, SADP_REPLY, tcp_segments

from camscan.fingerprint.engine import Engine
from camscan.fusion import fuse, group_by_host
from camscan.model import Evidence
from camscan.passive.macs import MacTable

SCANNER_IP, SCANNER_MAC = "198.18.0.1", "02:00:00:00:00:01"
ROUTER_IP, ROUTER_MAC = "198.18.0.254", "00:1b:21:aa:bb:cc"  # an Intel NIC
CAMERAS = ["10.20.0.11", "10.20.0.12", "10.20.0.13"]  # behind the router
CAMERA_MACS = ["28:57:be:00:00:11", "28:57:be:00:00:12", "28:57:be:00:00:13"]  # their own
T0 = 1_700_000_000.0

WSD_HELLO = (
    '<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
    'xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><SOAP-ENV:Header>'
    "<wsa:MessageID>urn:uuid:1c9a8f2e-0000-4000-8000-{n:012d}</wsa:MessageID>"
    "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</wsa:Action>"
    "</SOAP-ENV:Header><SOAP-ENV:Body><d:Hello><wsa:EndpointReference><wsa:Address>"
    "urn:uuid:2857be00-0000-4000-8000-{n:012d}</wsa:Address></wsa:EndpointReference>"
    "<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>"
    "onvif://www.onvif.org/name/HIKVISION onvif://www.onvif.org/hardware/{model}"
    "</d:Scopes><d:XAddrs>http://{ip}/onvif/device_service</d:XAddrs>"
    "<d:MetadataVersion>1</d:MetadataVersion></d:Hello></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
MODELS = ["DS-2CD2143G0-I", "DS-2CD2047G2-L", "DS-2DE4425IW-DE"]


def _sadp(ip: str, mac: str, model: str, n: int) -> bytes:
    return (
        SADP_REPLY.replace(b"28-57-be-00-00-21", mac.replace(":", "-").encode())
        .replace(b"198.18.0.21", ip.encode())
        .replace(b"DS-2CD2143G0-I", model.encode())
        .replace(b"12345678", f"{n:08d}".encode())
    )


def _routed(ip: str, payload: bytes, sport: int) -> Packet:
    """A datagram from a camera behind the router: its address, the router's MAC."""
    return (
        Ether(src=ROUTER_MAC, dst=SCANNER_MAC)
        / IP(src=ip, dst=SCANNER_IP, ttl=63)
        / UDP(sport=sport, dport=sport)
        / Raw(payload)
    )


def router_arp() -> Packet:
    return Ether(src=ROUTER_MAC, dst=SCANNER_MAC) / ARP(
        op=2, hwsrc=ROUTER_MAC, psrc=ROUTER_IP, hwdst=SCANNER_MAC, pdst=SCANNER_IP
    )


def camera_answers(stated_macs: list[str] = CAMERA_MACS) -> list[Packet]:
    """WS-Discovery Hello, SADP answer (stating `stated_macs[i]`) and a web page of each
    camera, all through the router."""
    pkts: list[Packet] = []
    for i, ip in enumerate(CAMERAS):
        hello = WSD_HELLO.format(n=i + 1, model=MODELS[i], ip=ip).encode()
        pkts.append(_routed(ip, hello, 3702))
        pkts.append(_routed(ip, _sadp(ip, stated_macs[i], MODELS[i], i + 1), 37020))
        head = HTTP_HEAD % len(HTTP_BODY)
        pkts += tcp_segments((ip, ROUTER_MAC, 80), (SCANNER_IP, SCANNER_MAC, 40000 + i),
                             head + HTTP_BODY, sizes=[])  # fmt: skip
    return pkts


def router_web_page() -> list[Packet]:
    """The router's own admin page (its own address, its own MAC)."""
    body = b"<html><head><title>Router</title></head></html>"
    head = b"HTTP/1.1 200 OK\r\nServer: mini_httpd\r\nContent-Length: %d\r\n\r\n" % len(body)
    return tcp_segments((ROUTER_IP, ROUTER_MAC, 80), (SCANNER_IP, SCANNER_MAC, 41000),
                        head + body, sizes=[])  # fmt: skip


def passive(tmp_path: Path, pkts: list[Packet]) -> list[dict[str, Any]]:
    """`camscan passive` over a capture of `pkts`: the devices, by address."""
    for i, p in enumerate(pkts):
        p.time = T0 + i
    pcap, out = tmp_path / "routed.pcap", tmp_path / "devices.json"
    wrpcap(str(pcap), pkts)
    done = subprocess.run(
        [sys.executable, "-m", "camscan", "passive", str(pcap), "-o", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return sorted(json.loads(out.read_text())["devices"], key=lambda d: d["ip"])


def _cameras_apart(devices: list[dict[str, Any]]) -> None:
    cams = [d for d in devices if d["ip"] in CAMERAS]
    assert [d["ip"] for d in cams] == CAMERAS
    for d, model in zip(cams, MODELS, strict=True):
        assert (d["manufacturer"], d["model"]) == ("Hikvision", model), d["ip"]
        assert d["mac"] != ROUTER_MAC  # the router's MAC is nobody's but the router's


def test_cameras_behind_a_router_without_its_arp_stay_apart(tmp_path: Path) -> None:
    # No ARP from the router in the capture: its MAC sends from four addresses (three cameras
    # and its own web page). Before: all four were one device.
    devices = passive(tmp_path, [*camera_answers(), *router_web_page()])
    assert [d["ip"] for d in devices] == [*CAMERAS, ROUTER_IP]
    _cameras_apart(devices)
    assert [d["mac"] for d in devices[:3]] == CAMERA_MACS  # as each SADP answer states it
    router = devices[3]
    assert router["mac"] is None and router["manufacturer"] != "Hikvision"


def test_two_cameras_behind_a_router_are_two_devices(tmp_path: Path) -> None:
    # Fewer addresses than the old "router" threshold: before, one device.
    pkts = [p for p in camera_answers() if p[IP].src != CAMERAS[2]]
    devices = passive(tmp_path, pkts)
    assert [d["ip"] for d in devices] == CAMERAS[:2]
    assert [d["mac"] for d in devices] == CAMERA_MACS[:2]


def test_cameras_behind_a_router_with_its_arp_and_the_router(tmp_path: Path) -> None:
    # The router's ARP names its own address: three cameras and the router.
    devices = passive(tmp_path, [router_arp(), *camera_answers()])
    assert [d["ip"] for d in devices] == [*CAMERAS, ROUTER_IP]
    _cameras_apart(devices)
    assert devices[3]["mac"] == ROUTER_MAC
    assert devices[3]["manufacturer"] != "Hikvision"


def test_a_mac_stated_in_payloads_never_merges_two_addresses(tmp_path: Path) -> None:
    # Cameras with cloned firmware state one default MAC in their SADP answers. Before: one
    # device (grouped by the stated MAC), the others gone.
    same = ["28:57:be:0d:ef:01"] * 3
    devices = passive(tmp_path, [router_arp(), *camera_answers(same)])
    assert [d["ip"] for d in devices] == [*CAMERAS, ROUTER_IP]
    _cameras_apart(devices)
    for d in devices[:3]:
        assert d["mac"] is None  # a MAC three addresses claim is none of theirs
        other = sorted(set(CAMERAS) - {d["ip"]})[0]
        note = f"sadp answer states MAC 28:57:be:0d:ef:01, which {other} also states"
        assert note in d["notes"]


# -- the parts ---------------------------------------------------------------------------------


def _ev(protocol: str, value: str, ip: str, mac: str | None = None, module: str = "t") -> Evidence:
    return Evidence(module=module, protocol=protocol, value=value, ip=ip, mac=mac)


def test_a_link_mac_shown_for_several_addresses_names_none_of_them() -> None:
    # proxy ARP: the router answers ARP for the cameras behind it
    items = [_ev("mac", ROUTER_MAC, ip, ROUTER_MAC, "arp") for ip in [ROUTER_IP, *CAMERAS]]
    items += [_ev("http_server", "App-webs/", ip) for ip in CAMERAS]
    hosts = {h.ip: h for h in group_by_host(items)}
    assert sorted(hosts) == sorted([ROUTER_IP, *CAMERAS])
    assert all(h.key == f"ip:{ip}" and h.mac is None for ip, h in hosts.items())
    assert hosts[CAMERAS[0]].notes == [
        f"MAC {ROUTER_MAC} is seen for 4 addresses (a router, or proxy ARP): "
        "not taken as this device's identity"
    ]


def test_ipv4_and_ipv6_of_one_mac_are_still_one_device() -> None:
    mac = CAMERA_MACS[0]
    items = [
        _ev("mac", mac, "198.18.0.21", mac, "arp"),
        _ev("mac", mac, "fe80::2a57:beff:fe00:11", mac, "passive"),
        _ev("http_server", "App-webs/", "fe80::2a57:beff:fe00:11"),
    ]
    hosts = group_by_host(items)
    assert [(h.key, h.ip, len(h.items)) for h in hosts] == [(f"mac:{mac}", "198.18.0.21", 3)]


def test_dahua_and_vendor_payload_macs_merge_nothing() -> None:
    mac = "3c:ef:8c:00:00:31"
    items = [
        _ev("dahua_discovery", f"mac={mac}", "10.20.0.31", mac, "dahua"),
        _ev("vendor_discovery", f"vendor=Hanwha\nmac={mac}", "10.20.0.32", mac, "hanwha"),
    ]
    devices = fuse(items, Engine.load())
    assert [d.ip for d in devices] == ["10.20.0.31", "10.20.0.32"]
    assert [d.mac for d in devices] == [None, None]


def test_a_payload_mac_of_one_address_still_shows() -> None:
    mac = CAMERA_MACS[0]
    hosts = group_by_host([_ev("sadp", "MAC=x", CAMERAS[0], mac, "sadp")])
    assert [(h.key, h.mac, h.notes) for h in hosts] == [(f"ip:{CAMERAS[0]}", mac, [])]


def _candidates(sources: list[str], mac: str = ROUTER_MAC) -> list[tuple[str | None, str]]:
    import socket

    out: list[Evidence] = []
    table = MacTable(out.append)
    raw = bytes.fromhex(mac.replace(":", ""))
    for n, ip in enumerate(sources, 1):
        table.observe(raw, socket.inet_aton(ip), n, T0 + n)
    table.finish()
    return [(e.ip, e.value) for e in out]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_a_mac_sending_from_several_ipv4_addresses_binds_none(n: int) -> None:
    assert _candidates(CAMERAS[:1]) == [(CAMERAS[0], ROUTER_MAC)]  # one: a host
    assert _candidates([*CAMERAS, ROUTER_IP][:n]) == []  # several: a router


def test_remote_public_addresses_do_not_count_against_a_lan_host() -> None:
    assert _candidates([ROUTER_IP, "93.184.216.34", "1.1.1.1"]) == [(ROUTER_IP, ROUTER_MAC)]
