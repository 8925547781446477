"""bench/nmap_compare.py: nmap XML -> hosts -> scores, on a small recorded-shape XML."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camscan.errors import ParseError
from camscan.fingerprint.rules import BrandInfo, Vendors

_PATH = Path(__file__).resolve().parents[1] / "bench" / "nmap_compare.py"
_spec = importlib.util.spec_from_file_location("nmap_compare", _PATH)
assert _spec is not None and _spec.loader is not None
nc = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("nmap_compare", nc)
_spec.loader.exec_module(nc)

XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -n -sV -oX - ..." version="7.93" xmloutputversion="1.05">
<prescript><script id="broadcast-wsdd-discover" output="&#xa;  Devices&#xa;    239.255.255.250&#xa;        Message id: 8864239a-b045-4132-92b6-ad4d70087430&#xa;        Address: http://198.18.0.2/onvif/device_service&#xa;        Type: n:NetworkVideoTransmitter tds:Device&#xa;    239.255.255.250&#xa;        Message id: 2c312d5c-30f2-4ef9-8107-5f40b143644d&#xa;        Address: http://198.18.0.9:8000/onvif/device_service&#xa;        Type: n:NetworkVideoTransmitter Axis&#xa;"/></prescript>
<host><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.0.2" addrtype="ipv4"/>
<address addr="28:57:BE:5E:DA:92" addrtype="mac" vendor="Hangzhou Hikvision Digital Technology"/>
<ports>
<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="http" product="App-webs/" method="probed" conf="10"
 servicefp="SF-Port80-TCP:V=7.93%r(GetRequest,F4,&quot;Server:\\x20Hikvision-Webs&quot;)"/></port>
<port protocol="tcp" portid="21"><state state="closed" reason="reset" reason_ttl="64"/>
<service name="ftp" method="table" conf="3"/></port>
</ports></host>
<host><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.0.3" addrtype="ipv4"/>
<address addr="9C:8E:CD:2A:21:21" addrtype="mac" vendor="Amcrest Technologies"/>
<ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="http" product="Dahua DVR http admin" devicetype="webcam" method="probed" conf="10"/>
<script id="http-title" output="WEB SERVICE"/></port></ports></host>
<host><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.0.4" addrtype="ipv4"/>
<address addr="3C:D9:2B:7D:5C:8D" addrtype="mac" vendor="Hewlett Packard"/>
<ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="http" product="HP LaserJet Pro M404dn printer http config" devicetype="printer"
 method="probed" conf="10"/></port></ports></host>
<host><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.0.5" addrtype="ipv4"/>
<address addr="52:54:00:4B:33:33" addrtype="mac" vendor="QEMU virtual NIC"/>
<ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="http" product="nginx" devicetype="webcam" method="probed" conf="10"/></port></ports>
</host>
<host><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="198.18.0.6" addrtype="ipv4"/></host>
<host><status state="up" reason="localhost-response" reason_ttl="0"/>
<address addr="198.18.0.1" addrtype="ipv4"/></host>
</nmaprun>
"""

TRUTH = {
    "198.18.0.2": {"manufacturer": "Hikvision", "is_surveillance": True},
    "198.18.0.3": {"manufacturer": "Dahua", "is_surveillance": True},
    "198.18.0.4": {"manufacturer": "HP", "is_surveillance": False},
    "198.18.0.5": {"manufacturer": None, "is_surveillance": False},
    "198.18.0.6": {"manufacturer": "Axis", "is_surveillance": True},
    "198.18.0.9": {"manufacturer": "Axis", "is_surveillance": True},
}


def vendors() -> Vendors:
    v = Vendors()
    for name in ("Hikvision", "Dahua", "HP", "Axis", "Hanwha Vision"):
        v.manufacturers[name] = {"name": name}
    v.brands["Amcrest"] = BrandInfo("Amcrest", "Dahua", 0.9, "", "")
    v.brands["Samsung Techwin"] = BrandInfo("Samsung Techwin", "Hanwha Vision", 0.9, "", "")
    return v


def test_hosts_macs_services_and_scripts():
    run = nc.parse_nmap_xml(XML)
    assert set(run.hosts) == {f"198.18.0.{i}" for i in range(1, 7)}
    hik = run.hosts["198.18.0.2"]
    assert hik.up and hik.mac == "28:57:be:5e:da:92"
    assert hik.mac_vendor == "Hangzhou Hikvision Digital Technology"
    assert hik.texts == ("App-webs/",)  # servicefp is not nmap naming anything
    assert hik.open_ports == (80,)
    dahua = run.hosts["198.18.0.3"]
    assert dahua.texts == ("Dahua DVR http admin", "webcam", "WEB SERVICE")
    assert dahua.devicetypes == ("webcam",)
    assert not run.hosts["198.18.0.6"].up
    assert "broadcast-wsdd-discover" in run.prescripts


def test_wsdd_output_is_attributed_by_xaddr():
    run = nc.parse_nmap_xml(XML)
    hosts = nc.wsdd_hosts(run.prescripts["broadcast-wsdd-discover"])
    assert set(hosts) == {"198.18.0.2", "198.18.0.9"}
    assert "NetworkVideoTransmitter" in hosts["198.18.0.9"].texts[0]


def test_aliases_include_brands_and_first_word():
    aliases = nc.maker_aliases(vendors())
    assert aliases["Dahua"] == ("Dahua", "Amcrest")
    assert aliases["Hanwha Vision"] == ("Hanwha Vision", "Hanwha", "Samsung Techwin")
    assert aliases["HP"] == ("HP",)


def test_names_maker_matches_whole_words_only():
    aliases = nc.maker_aliases(vendors())
    assert nc.names_maker(["HP LaserJet"], "HP", aliases)
    assert not nc.names_maker(["PHP/8.2", "http"], "HP", aliases)
    assert nc.names_maker(["Hanwha Techwin"], "Hanwha Vision", aliases)
    assert nc.names_maker(["amcrest technologies"], "Dahua", aliases)
    assert not nc.names_maker([], "Dahua", aliases)


def test_score_nmap_services_mac_vendor_and_decoys():
    run = nc.parse_nmap_xml(XML)
    hosts = dict(run.hosts)
    hosts.pop("198.18.0.1")  # the scanner itself
    score = nc.score_nmap(hosts, TRUTH, nc.maker_aliases(vendors()))
    assert score == nc.Score(
        devices=6,
        with_maker=5,
        decoys=2,
        found=4,  # .6 is down, .9 absent
        named=2,  # Dahua (product) and HP (product); Hikvision only via servicefp: no
        named_by_mac_vendor=2,  # Hikvision OUI line, Amcrest (a Dahua brand); not "Hewlett"
        decoys_flagged=1,  # nginx with devicetype webcam
    )


def test_score_wsdd_hosts():
    run = nc.parse_nmap_xml(XML)
    hosts = nc.wsdd_hosts(run.prescripts["broadcast-wsdd-discover"])
    score = nc.score_nmap(hosts, TRUTH, nc.maker_aliases(vendors()))
    assert (score.found, score.named, score.named_by_mac_vendor) == (2, 1, 0)


def test_score_camscan():
    doc = {
        "devices": [
            {"ip": "198.18.0.2", "manufacturer": "Hikvision", "is_surveillance": True},
            {"ip": "198.18.0.3", "manufacturer": None, "is_surveillance": True},
            {"ip": "198.18.0.4", "manufacturer": "HP", "is_surveillance": True},
            {"ip": "198.18.0.77", "manufacturer": "Axis", "is_surveillance": True},
        ]
    }
    score = nc.score_camscan(doc, TRUTH)
    assert (score.found, score.named, score.decoys_flagged) == (3, 2, 1)
    assert (score.devices, score.with_maker, score.decoys) == (6, 5, 2)


@pytest.mark.parametrize(
    "text",
    ["", "not xml", "<html><body/></html>", "<nmaprun><host>", b"\xff\xfe<x/>",
     '<!DOCTYPE x [<!ENTITY a "aaaa">]><nmaprun>&a;</nmaprun>'],
)  # fmt: skip
def test_bad_input_is_a_parse_error(text):
    with pytest.raises(ParseError):
        nc.parse_nmap_xml(text)


def test_host_without_ipv4_is_skipped():
    run = nc.parse_nmap_xml(
        '<nmaprun><host><address addr="02:00:00:00:00:01" addrtype="mac"/></host></nmaprun>'
    )
    assert run.hosts == {}


@given(st.binary(max_size=300))
def test_parser_any_bytes_gives_a_run_or_parse_error(data):
    try:
        run = nc.parse_nmap_xml(data)
    except ParseError:
        return
    assert isinstance(run.hosts, dict)


@given(st.text(max_size=300))
def test_wsdd_parser_never_raises(text):
    assert isinstance(nc.wsdd_hosts(text), dict)
