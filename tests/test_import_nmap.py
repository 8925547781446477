"""`camscan import nmap`: XML that nmap 7.93 produced against the lab (tests/data/nmap/,
made by tests/data/nmap/generate.py inside the lab's scanner namespace), and hand-written
edge cases."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from camscan.commands.importcmd import nmap_result
from camscan.errors import ParseError
from camscan.fingerprint.engine import Engine
from camscan.importers.nmap import NmapImport, parse_nmap_xml, probe_responses, read_nmap_files
from camscan.schema import schema_errors

DATA = Path(__file__).parent / "data" / "nmap"
LAB = {  # persona truth of the eight lab devices in the fixtures
    "198.18.0.10": ("Hikvision", "Hikvision", True),
    "198.18.0.15": ("Hikvision", "LTS", True),
    "198.18.0.19": ("Dahua", "Dahua", True),
    "198.18.0.21": ("Dahua", "Amcrest", True),
    "198.18.0.24": ("Axis", "Axis", False),
    "198.18.0.25": ("Hanwha Vision", "Hanwha Vision", False),
    "198.18.0.27": ("Reolink", "Reolink", False),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load([])


def devices(files: list[str], engine: Engine) -> dict[str, dict]:
    doc = nmap_result(read_nmap_files([str(DATA / f) for f in files]), engine, None).to_json()
    assert schema_errors(doc) == []
    return {d["ip"]: d for d in doc["devices"]}


def test_every_lab_scan_together(engine: Engine) -> None:
    found = devices(["sn.xml", "sv.xml", "a.xml", "upnp.xml", "wsdd.xml"], engine)
    for ip, (maker, brand, restricted) in LAB.items():
        d = found[ip]
        assert (d["manufacturer"], d["brand"]) == (maker, brand), ip
        assert d["is_surveillance"] and bool(d["restricted_by"]) is restricted, ip
        assert d["mac_vendor"], ip
    protocols = {e["protocol"] for d in found.values() for e in d["evidence"]}
    assert {"mac", "open_port", "x509_subject", "x509_issuer", "rtsp_public", "http_server",
            "html_title", "wsd_types", "ssdp_server"} <= protocols  # fmt: skip
    nas = found["198.18.0.31"]
    assert nas["manufacturer"] == "Synology" and not nas["is_surveillance"]
    hik = found["198.18.0.10"]
    assert "x509_subject" in {e["protocol"] for e in hik["evidence"]}
    assert any(n.startswith("nmap -sV: 8000/tcp") for n in hik["notes"])


@pytest.mark.parametrize("name", ["sn.xml", "sv.xml", "a.xml"])
def test_each_scan_alone_names_the_makers(name: str, engine: Engine) -> None:
    found = devices([name], engine)
    assert set(LAB) <= set(found)
    named = sum(found[ip]["manufacturer"] == maker for ip, (maker, _, _) in LAB.items())
    assert named == len(LAB)


def test_wsdd_answers_go_to_the_address_of_their_xaddr(engine: Engine) -> None:
    imported = read_nmap_files([str(DATA / "wsdd.xml")])
    ips = {e.ip for e in imported.evidence}
    assert ips == set(LAB)
    assert {e.value for e in imported.evidence} == {"NetworkVideoTransmitter Device"}


def test_servicefp_answers_are_read_as_camscan_reads_them() -> None:
    fp = (
        'SF-Port80-TCP:V=7.93%I=7%r(GetRequest,4B,"HTTP/1\\.0\\x20200\\x20OK\\r\\nServer:\\x20'
        'App-webs/\\r\\n\\r\\n<html><title>Acme\\x20Cam</title></html>")%r(RTSPRequest,1C,'
        '"RTSP/1\\.0\\x20200\\x20OK\\r\\nPublic:\\x20OPTIONS\\r\\n\\r\\n");'
    )
    got = probe_responses(fp)
    assert [p for p, _ in got] == ["GetRequest", "RTSPRequest"]
    assert got[0][1].startswith(b"HTTP/1.0 200 OK\r\nServer: App-webs/\r\n")
    xml = HOST.format(ports=f'<port protocol="tcp" portid="80"><state state="open"/>'
                      f'<service name="http" servicefp="{html.escape(fp)}"/></port>')  # fmt: skip
    imp = parse_nmap_xml(xml)
    values = {(e.protocol, e.value) for e in imp.evidence}
    assert ("http_server", "App-webs/") in values
    assert ("html_title", "Acme Cam") in values
    assert ("rtsp_public", "OPTIONS") in values


HOST = """<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sV -p 80 10.1.2.3" start="1700000000" version="7.94">
<host starttime="1700000001"><status state="up"/>
<address addr="10.1.2.3" addrtype="ipv4"/>
<address addr="44:19:B6:01:02:03" addrtype="mac" vendor="Hangzhou Hikvision"/>
<ports>{ports}</ports></host>
<runstats><finished time="1700000009"/></runstats></nmaprun>"""


def test_hand_written_edge_cases(engine: Engine) -> None:
    ports = (
        '<port protocol="tcp" portid="443"><state state="open"/><service name="https"/>'
        '<script id="ssl-cert" output="Subject: commonName=x"><table key="subject">'
        '<elem key="commonName">CMIP7442NW</elem><elem key="organizationName">Acme, Inc.</elem>'
        "</table></script></port>"
        '<port protocol="tcp" portid="22"><state state="open"/><service name="ssh"/>'
        '<script id="banner" output="SSH-2.0-dropbear_2019.78"/></port>'
        '<port protocol="udp" portid="1900"><state state="open"/><service name="upnp"/>'
        '<script id="upnp-info" output="&#10;10.1.2.3&#10;    Server: Linux UPnP/1.0 DCS-935L/1.0'
        "&#10;    Location: http://10.1.2.3/d.xml&#10;      Name: Cam&#10;      Manufacturer: D-Link"
        '&#10;      Model Name: DCS-935L"/></port>'
        '<port protocol="tcp" portid="81"><state state="closed"/><service name="x"/></port>'
    )
    imp = parse_nmap_xml(HOST.format(ports=ports))
    values = {(e.protocol, e.value) for e in imp.evidence}
    assert ("x509_subject", "CN=CMIP7442NW,O=Acme\\, Inc.") in values
    assert ("ssh_banner", "SSH-2.0-dropbear_2019.78") in values
    assert ("ssdp_server", "Linux UPnP/1.0 DCS-935L/1.0") in values
    assert ("upnp_manufacturer", "D-Link") in values and ("upnp_model", "DCS-935L") in values
    assert ("open_port", "81/tcp") not in values and ("open_port", "443/tcp") in values
    assert imp.started == 1700000000 and imp.finished == 1700000009
    assert imp.targets == ["10.1.2.3"]
    # down hosts, IPv6, an interrupted run (no runstats)
    other = """<nmaprun args="nmap -sn fd00::/64"><host><status state="down"/>
    <address addr="10.9.9.9" addrtype="ipv4"/></host>
    <host><status state="up"/><address addr="fd00::5" addrtype="ipv6"/></host></nmaprun>"""
    imp2 = parse_nmap_xml(other, NmapImport())
    assert imp2.hosts_up == 1 and imp2.warnings
    doc = nmap_result(imp2, engine, None).to_json()
    assert schema_errors(doc) == []
    assert [d["ip"] for d in doc["devices"]] == ["fd00::5"]
    assert doc["devices"][0]["notes"][0].startswith("nmap: host up")


@pytest.mark.parametrize(
    "text",
    [
        "not xml at all",
        "<html><body/></html>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<nmaprun>&b;</nmaprun>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<nmaprun>&e;</nmaprun>",
    ],
)
def test_not_nmap_xml_is_refused(text: str) -> None:
    with pytest.raises(ParseError, match="not nmap XML"):
        parse_nmap_xml(text)


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "devices.json"
    db = tmp_path / "inv.db"
    run = [sys.executable, "-m", "camscan", "import", "nmap"]
    done = subprocess.run([*run, str(DATA / "sn.xml"), str(DATA / "sv.xml"), "-o", str(out),
                           "--db", str(db), "--site", "lab"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert schema_errors(doc) == [] and doc["scan"]["modules"] == ["nmap"]
    assert doc["summary"]["restricted"] == 4
    assert "added the device list to" in done.stderr and "site 'lab'" in done.stderr
    bad = tmp_path / "bad.xml"
    bad.write_text("<nope/>")
    done = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not nmap XML" in done.stderr
