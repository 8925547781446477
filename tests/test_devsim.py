"""The lab device simulator and the personas.

Everything here runs on loopback only: the office personas are moved to 127.77.0.x and served
in the `--bind-any-ip` test mode (unicast sockets only, no multicast, broadcast or mDNS)."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import os
import signal
import ssl
import struct
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as safe_et
import pytest
import yaml
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.errors import DataError, ParseError
from camscan.fingerprint.engine import mac_registrant
from camscan.lab.devsim import (
    AUTH_READ,
    BAD_CREDENTIALS,
    NON_DISCOVERY,
    ONVIF_AUTH_READ,
    SDK_DATA,
    WRITE,
    DevSim,
    DevSimOptions,
    dahua,
    onvif,
    read_audit,
    sadp,
    ssdp,
    wire,
    wsd,
)
from camscan.lab.personas import (
    DEFAULT_PERSONAS,
    Persona,
    generate_office,
    load_personas,
    personas_from_data,
)

NET = "127.77.0."
HIK = NET + "10"  # hik-cam-onvif
HIK_NOONVIF = NET + "11"
HIK_NVR = NET + "14"
LTS = NET + "15"
DAHUA = NET + "19"
AMCREST = NET + "21"
AXIS = NET + "24"
HANWHA = NET + "25"
BOSCH = NET + "26"
REOLINK = NET + "27"
UBNT = NET + "28"
PRINTER = NET + "30"
NAS = NET + "31"
ROUTER = NET + "32"
NGINX = NET + "33"
PASSWORD = "camscan-Lab-2026"
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"


# ------------------------------------------------------------------ fixtures and clients


def office_on_loopback() -> list[Persona]:
    """The office moved to 127.77.0.x; WS-Discovery answers at once (except hik-cam-onvif,
    which keeps the random 0-500 ms delay) so reply order follows probe order."""
    devices = []
    for p in load_personas():
        spec = copy.deepcopy(p.raw)
        spec["ip"] = spec["ip"].replace("198.18.0.", NET)
        if "wsd" in spec and p.name != "hik-cam-onvif":
            spec["wsd"]["max_delay_ms"] = 0
        devices.append(spec)
    return personas_from_data({"devices": devices}, "office-on-loopback")


@pytest.fixture
async def sim(tmp_path: Path):
    audit_path = tmp_path / "audit.jsonl"
    simulator = DevSim(office_on_loopback(), DevSimOptions(audit_log=audit_path, loopback=True))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


def audit_of(simulator: DevSim) -> list[dict[str, Any]]:
    assert simulator.audit_path is not None
    return read_audit(simulator.audit_path)


async def http(
    ip: str,
    port: int,
    path: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    tls: bool = False,
) -> tuple[int, list[tuple[str, str]], bytes, Any]:
    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(ip, port, ssl=ctx)
    head = f"{method} {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    raw = await asyncio.wait_for(reader.read(), 5)
    cert = None
    if tls:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        cert = x509.load_der_x509_certificate(der)
    writer.close()
    status, hdrs, content = split_response(raw)
    return status, hdrs, content, cert


def split_response(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    head, _, content = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return int(lines[0].split()[1]), hdrs, content


def values(hdrs: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in hdrs if k.lower() == name.lower()]


def title_of(content: bytes) -> str | None:
    text = content.decode("utf-8", "replace")
    if "<title>" not in text:
        return None
    return text.split("<title>", 1)[1].split("</title>", 1)[0]


async def rtsp(ip: str, requests: list[str]) -> list[bytes]:
    reader, writer = await asyncio.open_connection(ip, 554)
    out = []
    for i, req in enumerate(requests, start=2):
        writer.write(f"{req} RTSP/1.0\r\nCSeq: {i}\r\n\r\n".encode())
        out.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
    writer.close()
    return out


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


async def udp_client(port: int = 0) -> tuple[asyncio.DatagramTransport, _Collector]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        _Collector, local_addr=("127.0.0.1", port), reuse_port=False
    )
    return transport, proto


async def udp_ask(dst: tuple[str, int], payload: bytes, reply_port: int = 0) -> tuple[bytes, Any]:
    """Send one datagram and wait for the first reply (on `reply_port` when the protocol
    answers to a fixed port)."""
    listen_t, listen = await udp_client(reply_port) if reply_port else (None, None)
    transport, proto = await udp_client()
    try:
        transport.sendto(payload, dst)
        queue = (listen or proto).queue
        return await asyncio.wait_for(queue.get(), 3)
    finally:
        transport.close()
        if listen_t is not None:
            listen_t.close()


def onvif_request(action: str, token: tuple[str, str] | None = None) -> bytes:
    header = ""
    if token is not None:
        user, password = token
        nonce = os.urandom(16)
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + password.encode()).digest()
        )
        header = (
            "<s:Header><wsse:Security xmlns:wsse="
            '"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
            'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
            f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"
            '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/'
            f'oasis-200401-wss-username-token-profile-1.0#PasswordDigest">{digest.decode()}'
            f"</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
        )
    return (
        f'<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP_NS}">{header}'
        f'<s:Body><{action} xmlns="{TDS}"/></s:Body></s:Envelope>'
    ).encode()


async def onvif_call(ip: str, action: str, token: tuple[str, str] | None = None):
    return await http(
        ip,
        80,
        "/onvif/device_service",
        "POST",
        {"Content-Type": "application/soap+xml; charset=utf-8"},
        onvif_request(action, token),
    )


def wsd_probe(types: str = "dn:NetworkVideoTransmitter") -> tuple[str, bytes]:
    mid = f"urn:uuid:{uuid.uuid4()}"
    return mid, (
        f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{SOAP_NS}" '
        'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<e:Header><w:MessageID>{mid}</w:MessageID>"
        "<w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>"
        "<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>"
        f"<e:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></e:Body></e:Envelope>"
    ).encode()


def sadp_probe(types: str = "inquiry") -> tuple[str, bytes]:
    u = str(uuid.uuid4()).upper()
    xml = f"<Probe><Uuid>{u}</Uuid><Types>{types}</Types></Probe>"
    return u, ('<?xml version="1.0" encoding="utf-8"?>' + xml).encode()


def dhip_request(method: str = "DHDiscover.search") -> bytes:
    return dahua.build_dhip({"method": method, "params": {"mac": "", "uni": 1}})


# ------------------------------------------------------------------ the office data


def test_office_has_the_required_devices() -> None:
    office = load_personas()
    assert len(office) >= 24
    truths = [p.truth for p in office]
    makers = Counter(t["manufacturer"] for t in truths)
    assert makers["Hikvision"] >= 6 and makers["Dahua"] >= 4
    for maker in ("Uniview", "Axis", "Hanwha Vision", "Bosch", "Reolink", "Ubiquiti"):
        assert makers[maker] >= 1, maker
    brands = {t["brand"] for t in truths}
    assert {"LTS", "Annke", "Amcrest", "Lorex"} <= brands
    assert brands & {"EZVIZ", "HiLook"}
    unknown = [p for p in office if p.truth["is_surveillance"] and p.truth["manufacturer"] is None]
    assert unknown and unknown[0].has("wsd") and unknown[0].has("rtsp")
    assert unknown[0].mac_bytes[0] & 2 or mac_registrant(unknown[0].mac) == ""
    decoys = [p for p in office if not p.truth["is_surveillance"]]
    assert len(decoys) >= 5 and len(decoys) / len(office) >= 0.18


def test_office_addresses_are_unique_and_in_the_lab_subnet() -> None:
    office = load_personas()
    assert len({p.ip for p in office}) == len({p.mac for p in office}) == len(office)
    for p in office:
        addr = ipaddress.IPv4Address(p.ip)
        assert (
            addr in ipaddress.IPv4Network("198.18.0.0/24") and int(str(addr).split(".")[-1]) >= 10
        )


# what an IEEE registrant must mention for a device of this manufacturer/brand
REGISTRANT = {
    "Hikvision": ("Hikvision", "Ezviz"),
    "LTS": ("LT SECURITY",),
    "EZVIZ": ("Ezviz",),
    "Dahua": ("Dahua",),
    "Amcrest": ("Amcrest",),
    "Lorex": ("Lorex",),
    "Uniview": ("Uniview",),
    "Axis": ("Axis Communications",),
    "Hanwha Vision": ("Hanwha", "Samsung Techwin"),
    "Bosch": ("Bosch",),
    "Reolink": ("Reolink",),
    "Ubiquiti": ("Ubiquiti",),
    "HP": ("Hewlett Packard",),
    "Synology": ("Synology",),
    "NETGEAR": ("NETGEAR",),
}


def test_office_macs_use_prefixes_registered_to_the_stated_maker() -> None:
    for p in load_personas():
        maker = p.truth["manufacturer"]
        if maker is None:
            continue
        org = mac_registrant(p.mac).lower()
        wanted = REGISTRANT.get(p.truth["brand"], ()) + REGISTRANT[maker]
        assert any(w.lower() in org for w in wanted), f"{p.name}: {p.mac} is {org!r}"
    assert mac_registrant(next(p for p in load_personas() if p.name == "lts-cam").mac).startswith(
        "LT SECURITY"
    )


def test_hikvision_personas_cover_onvif_on_and_off_and_old_firmware() -> None:
    office = {p.name: p for p in load_personas()}
    assert office["hik-cam-onvif"].has("wsd") and office["hik-cam-onvif"].has("onvif")
    off = office["hik-cam-noonvif"]
    assert not off.has("wsd") and not off.has("onvif")
    assert off.has("sadp") and off.has("http") and off.has("rtsp")
    assert office["hik-nvr"].block("http")["server"] == "DNVRS-Webs"
    assert office["lts-cam"].block("sadp")["fields"]["OEMInfo"] == "LTS"
    legacy = office["hik-cam-legacy"].truth
    assert legacy["model"].startswith("DS-2CD21") and legacy["model"].endswith("2F-I")
    assert any(
        "build 17" in p.truth["firmware"] or "build 15" in p.truth["firmware"]
        for p in office.values()
        if p.truth["manufacturer"] == "Hikvision"
    )
    assert "build:2019-" in office["dahua-cam"].truth["firmware"]


def test_loader_rejects_bad_personas_with_one_line(tmp_path: Path) -> None:
    good = {
        "name": "cam",
        "ip": "198.18.0.50",
        "mac": "28:57:be:00:00:01",
        "truth": {
            "manufacturer": None,
            "brand": None,
            "model": None,
            "firmware": None,
            "device_type": "camera",
            "is_surveillance": True,
        },
    }
    cases = {
        "bad-ip": ({**good, "ip": "198.18.0.300"}, "not IPv4"),
        "bad-mac": ({**good, "mac": "28:57:be"}, "mac"),
        "unknown-key": ({**good, "htttp": {}}, "htttp"),
        "bad-type": ({**good, "http": {"ports": ["eighty"]}}, "http/ports/0"),
        "template": ({**good, "extends": "nope"}, "unknown template"),
        "placeholder": ({**good, "http": {"server": "${modle}"}}, "${modle}"),
    }
    for label, (device, needle) in cases.items():
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump({"devices": [device]}))
        with pytest.raises(DataError) as err:
            load_personas(path)
        message = str(err.value)
        assert "\n" not in message and str(path) in message and "'cam'" in message, message
        assert needle in message, message
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        yaml.safe_dump({"devices": [good, {**good, "name": "cam2", "ip": "198.18.0.51"}]})
    )
    with pytest.raises(DataError, match="duplicate mac"):
        load_personas(dup)


def test_raw_round_trips_through_a_persona_file(tmp_path: Path) -> None:
    office = load_personas()
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump({"devices": [p.raw for p in office]}, sort_keys=False))
    again = load_personas(path)
    assert [(p.name, p.ip, p.mac, p.truth, p.services) for p in again] == [
        (p.name, p.ip, p.mac, p.truth, p.services) for p in office
    ]


@pytest.mark.parametrize("subnet", ["198.18.0.0/22", "198.18.8.0/21"])
def test_generate_office_spreads_1000_unique_devices(subnet: str) -> None:
    devices = generate_office(1000, subnet, seed=7)
    net = ipaddress.IPv4Network(subnet)
    assert len(devices) == 1000
    assert len({d.ip for d in devices}) == len({d.mac for d in devices}) == 1000
    assert len({d.name for d in devices}) == 1000
    assert all(ipaddress.IPv4Address(d.ip) in net for d in devices)
    assert str(next(net.hosts())) not in {d.ip for d in devices}  # left for the scanner
    decoys = sum(not d.truth["is_surveillance"] for d in devices)
    assert 180 <= decoys <= 220
    office_prefixes = {p.mac[:8] for p in load_personas()}
    assert {d.mac[:8] for d in devices} <= office_prefixes
    axis = next(d for d in devices if d.name.startswith("axis-cam"))
    assert axis.block("mdns")[0]["txt"]["macaddress"] == axis.mac.replace(":", "").upper()
    assert [d.ip for d in generate_office(50, subnet, seed=7)] == [
        d.ip for d in generate_office(50, subnet, seed=7)
    ]


def test_generate_office_refuses_what_does_not_fit() -> None:
    with pytest.raises(DataError, match="do not fit"):
        generate_office(1000, "198.18.0.0/24")


# ------------------------------------------------------------------ HTTP and HTTPS


async def test_http_answers_like_each_vendor(sim: DevSim) -> None:
    status, hdrs, _, _ = await http(HIK, 80, "/")
    assert status == 302 and values(hdrs, "Server") == ["App-webs/"]
    assert values(hdrs, "Location") == ["/doc/page/login.asp"]
    status, _, content, _ = await http(HIK, 80, "/doc/page/login.asp")
    assert status == 200 and b"Hikvision Digital Technology" in content
    status, hdrs, _, _ = await http(HIK, 80, "/ISAPI/System/deviceInfo")
    assert status == 401 and 'realm="IP Camera(J1234)"' in values(hdrs, "WWW-Authenticate")[0]
    assert values((await http(HIK_NVR, 80))[1], "Server") == ["DNVRS-Webs"]

    status, hdrs, content, _ = await http(DAHUA, 80, "/")
    assert status == 200 and values(hdrs, "Server") == [] and title_of(content) == "WEB SERVICE"
    _, hdrs, _, _ = await http(DAHUA, 80, "/cgi-bin/magicBox.cgi?action=getDeviceType")
    assert 'realm="Login to 5H0A2B3PAZ12345"' in values(hdrs, "WWW-Authenticate")[0]
    _, _, content, _ = await http(AMCREST, 80, "/custom_lang/English.txt")
    assert b"Amcrest Technologies" in content and b"w_camera_info" in content

    _, _, content, _ = await http(REOLINK, 80, "/cgi-bin/api.cgi?cmd=GetDevInfo")
    assert json.loads(content)[0]["error"]["detail"] == "please login first"
    assert title_of((await http(HANWHA, 80, "/home/monitoring.cgi"))[2]) == "Hanwha Techwin"
    assert values((await http(BOSCH, 80))[1], "Server") == ["VCS-VideoJet-Webserver"]
    _, hdrs, content, _ = await http(NGINX, 80)
    assert values(hdrs, "Server") == ["nginx/1.24.0"] and title_of(content) == "Welcome to nginx!"
    assert title_of((await http(NAS, 5000))[2]) == "Synology DiskStation"
    assert values((await http(PRINTER, 631))[1], "Server")[0].startswith("HP HTTP Server")
    head = await http(HIK, 80, "/doc/page/login.asp", method="HEAD")
    assert head[0] == 200 and head[2] == b""


async def test_favicons_are_icons_distinct_per_vendor(sim: DevSim) -> None:
    icons = {}
    for ip in (HIK, DAHUA, AXIS, HANWHA):
        status, hdrs, content, _ = await http(ip, 80, "/favicon.ico")
        assert status == 200 and values(hdrs, "Content-Type") == ["image/x-icon"]
        assert content[:4] == b"\0\0\1\0"
        icons[ip] = content
    assert len(set(icons.values())) == 4


async def test_https_certificates_carry_vendor_subjects(sim: DevSim) -> None:
    _, _, _, cert = await http(HIK, 443, "/", tls=True)
    assert cert.subject.rfc4514_string() == (
        "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"
    )
    _, _, _, cert = await http(AXIS, 443, "/", tls=True)
    assert cert.subject.rfc4514_string() == "CN=axis-accc8e4f2107,O=Axis Communications AB"
    _, _, _, cert = await http(BOSCH, 443, "/", tls=True)
    assert "OU=ST-VS,O=Bosch Sicherheitssysteme GmbH" in cert.issuer.rfc4514_string()


async def test_upnp_description_is_served_at_the_ssdp_location(sim: DevSim) -> None:
    router = next(p for p in sim.served if p.ip == ROUTER)
    url = ssdp.location(router)
    assert url == f"http://{ROUTER}:5555/Public_UPNP_gatedesc.xml"
    status, _, content, _ = await http(ROUTER, 5555, "/Public_UPNP_gatedesc.xml")
    root = safe_et.fromstring(content)
    ns = {"u": "urn:schemas-upnp-org:device-1-0"}
    assert status == 200
    assert root.findtext("u:device/u:deviceType", namespaces=ns) == (
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
    )
    assert root.findtext("u:device/u:modelName", namespaces=ns) == "R7000"


# ------------------------------------------------------------------ RTSP


async def test_rtsp_options_and_describe(sim: DevSim) -> None:
    options, describe = await rtsp(HIK, ["OPTIONS rtsp://x/", "DESCRIBE rtsp://x/Streaming/101"])
    _, hdrs, _ = split_response(options)
    assert values(hdrs, "Public") == ["OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, PAUSE"]
    assert values(hdrs, "Server") == [] and values(hdrs, "CSeq") == ["2"]
    status, hdrs, _ = split_response(describe)
    auth = values(hdrs, "WWW-Authenticate")
    assert (
        status == 401
        and auth[0].startswith('Digest realm="Hikvision"')
        and auth[1] == 'Basic realm="/"'
    )

    options, describe = await rtsp(
        DAHUA, ["OPTIONS rtsp://x/", "DESCRIBE rtsp://x/cam/realmonitor"]
    )
    assert values(split_response(options)[1], "Server") == ["Dahua Rtsp Server"]
    assert values(split_response(describe)[1], "WWW-Authenticate")[0].startswith(
        'Digest realm="Login to 5H0A2B3PAZ12345"'
    )
    assert audit_of(sim) == []


# ------------------------------------------------------------------ ONVIF


async def test_onvif_datetime_needs_no_credentials_but_device_info_does(sim: DevSim) -> None:
    status, _, content, _ = await onvif_call(HIK, "GetSystemDateAndTime")
    assert status == 200 and b"UTCDateTime" in content
    status, _, content, _ = await onvif_call(HIK, "GetDeviceInformation")
    assert status == 401 and b"ter:NotAuthorized" in content
    status, _, content, _ = await onvif_call(HIK, "GetDeviceInformation", ("admin", "wrong"))
    assert status == 401
    status, _, content, _ = await onvif_call(HIK, "GetDeviceInformation", ("admin", PASSWORD))
    assert status == 200
    info = safe_et.fromstring(content).find(f".//{{{TDS}}}GetDeviceInformationResponse")
    got = {el.tag.split("}")[1]: el.text for el in info}
    assert got == {
        "Manufacturer": "HIKVISION",
        "Model": "DS-2CD2143G2-I",
        "FirmwareVersion": "V5.7.3 build 220112",
        "SerialNumber": "DS-2CD2143G2-I20220315AAWRJ12345678",
        "HardwareId": "88",
    }
    status, _, content, _ = await onvif_call(LTS, "GetDeviceInformation", ("admin", PASSWORD))
    assert b"<tds:Manufacturer>LTS</tds:Manufacturer>" in content  # OEM units show the label
    kinds = [(a["persona"], a["kind"]) for a in audit_of(sim)]
    assert kinds == [
        ("hik-cam-onvif", BAD_CREDENTIALS),
        ("hik-cam-onvif", ONVIF_AUTH_READ),
        ("lts-cam", ONVIF_AUTH_READ),
    ]
    assert audit_of(sim)[0]["username"] == "admin" and PASSWORD not in json.dumps(audit_of(sim))


async def test_onvif_is_off_on_the_recent_hikvision(sim: DevSim) -> None:
    status, _, _, _ = await onvif_call(HIK_NOONVIF, "GetSystemDateAndTime")
    assert status == 405  # a POST to a path that is no service: refused and audited
    assert [a["kind"] for a in audit_of(sim)] == [WRITE]


# ------------------------------------------------------------------ discovery over unicast


async def test_wsd_probe_match(sim: DevSim) -> None:
    mid, probe = wsd_probe()
    data, src = await udp_ask((HIK, 3702), probe)
    assert src == (HIK, 3702)
    root = safe_et.fromstring(data)
    wsa = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}"
    d = "{http://schemas.xmlsoap.org/ws/2005/04/discovery}"
    assert root.findtext(f".//{wsa}RelatesTo") == mid
    match = root.find(f".//{d}ProbeMatch")
    assert match.findtext(f"{d}XAddrs") == f"http://{HIK}/onvif/device_service"
    assert match.findtext(f"{d}Types") == "dn:NetworkVideoTransmitter tds:Device"
    scopes = match.findtext(f"{d}Scopes").split()
    assert "onvif://www.onvif.org/hardware/DS-2CD2143G2-I" in scopes
    assert "onvif://www.onvif.org/type/video_encoder" in scopes
    address = match.findtext(f"{wsa}EndpointReference/{wsa}Address")
    data2, _ = await udp_ask((HIK, 3702), wsd_probe()[1])
    assert address.startswith("urn:uuid:") and address.encode() in data2  # stable per device
    assert wsd.parse_probe(probe).types == (
        ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter"),
    )


async def test_wsd_answers_only_matching_types(sim: DevSim) -> None:
    transport, proto = await udp_client()
    try:
        transport.sendto(wsd_probe()[1], (PRINTER, 3702))  # a printer is no NVT
        mid, any_probe = wsd_probe("")
        transport.sendto(any_probe, (PRINTER, 3702))
        data, _ = await asyncio.wait_for(proto.queue.get(), 3)
        assert mid.encode() in data and b"wprt:PrintDeviceType" in data
        assert proto.queue.empty()
    finally:
        transport.close()


async def test_sadp_inquiry_and_audit_of_other_types(sim: DevSim) -> None:
    transport, proto = await udp_client()
    try:
        transport.sendto(sadp_probe("update")[1], (LTS, 37020))
        probe_uuid, inquiry = sadp_probe()
        transport.sendto(inquiry, (LTS, 37020))
        data, src = await asyncio.wait_for(proto.queue.get(), 3)
    finally:
        transport.close()
    assert src == (LTS, 37020)
    root = safe_et.fromstring(data)
    assert root.tag == "ProbeMatch"
    fields = {el.tag: el.text for el in root}
    assert fields["Uuid"] == probe_uuid and fields["Types"] == "inquiry"
    assert fields["MAC"] == "14-2f-fd-42-15-15" and fields["IPv4Address"] == LTS
    assert fields["DeviceDescription"] == "CMIP7442NW-28M" and fields["OEMInfo"] == "LTS"
    assert fields["SoftwareVersion"] == "V5.6.5build 211124" and fields["DHCP"] == "false"
    assert [el.tag for el in root][:5] == [
        "Uuid",
        "Types",
        "DeviceType",
        "DeviceDescription",
        "DeviceSN",
    ]
    assert [(a["kind"], a["detail"]) for a in audit_of(sim)] == [
        (NON_DISCOVERY, "SADP Types=update")
    ]


async def test_dahua_dhip_and_legacy_discovery(sim: DevSim) -> None:
    transport, proto = await udp_client()
    try:
        transport.sendto(dhip_request("configManager.setConfig"), (DAHUA, 37810))
        transport.sendto(dhip_request(), (DAHUA, 37810))
        data, src = await asyncio.wait_for(proto.queue.get(), 3)
    finally:
        transport.close()
    assert src == (DAHUA, 37810) and data[4:8] == b"DHIP"
    body = dahua.parse_dhip(data)
    assert body["method"] == "client.notifyDevInfo" and body["mac"] == "3c:ef:8c:1b:19:19"
    info = body["params"]["deviceInfo"]
    assert info["DeviceType"] == "IPC-HFW3441T-ZS" and info["Port"] == 37777
    assert info["Version"] == "2.800.0000000.16.R,build:2019-11-05"
    assert info["IPv4Address"]["IPAddress"] == DAHUA
    assert [a["kind"] for a in audit_of(sim)] == [NON_DISCOVERY]

    data, src = await udp_ask((AMCREST, 5050), b"\xa3" + b"\0" * 31)
    assert src == (AMCREST, 5050) and data[0] == 0xB3
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 0x20
    assert data[0x28:0x38].rstrip(b"\0") == b"IP5M-T1179EW"
    assert data[0x38:0x3C] == ipaddress.IPv4Address(AMCREST).packed
    assert data[0x48:0x5C].rstrip(b"\0") == b"9c:8e:cd:2a:21:21"
    assert b"Vendor=Amcrest\r\n" in data[0x5C:] and b"TcpPort=37777" in data[0x5C:]


async def test_hanwha_bosch_ubiquiti_discovery(sim: DevSim) -> None:
    data, src = await udp_ask((HANWHA, 7701), b"\x01" + b"\0" * 15, reply_port=7711)
    assert src == (HANWHA, 7701) and data[0] == 0x0B and len(data) == 0xA7
    assert data[1:19].rstrip(b"\0") == b"E4:30:22:5A:25:25"
    assert data[0x13:0x23].rstrip(b"\0") == HANWHA.encode()
    assert data[0x47:0x67].rstrip(b"\0") == b"XNO-6080R"

    data, src = await udp_ask((BOSCH, 1757), struct.pack(">II", 0xFF0006DE, 42), reply_port=1758)
    assert src == (BOSCH, 1757) and struct.unpack_from(">II", data) == (0x9939A427, 42)
    assert (
        data[8:14] == bytes.fromhex("0004633f2626")
        and data[0x1A:0x3A].rstrip(b"\0") == b"NDE-8502-R"
    )

    data, src = await udp_ask((UBNT, 10001), b"\x01\x00\x00\x00")
    assert data[:2] == b"\x01\x00" and struct.unpack_from(">H", data, 2)[0] == len(data) - 4
    tlvs, off = {}, 4
    while off < len(data):
        kind, length = struct.unpack_from(">BH", data, off)
        tlvs[kind] = data[off + 3 : off + 3 + length]
        off += 3 + length
    assert tlvs[0x0C] == b"UVC G4 Bullet" and tlvs[0x02][6:] == ipaddress.IPv4Address(UBNT).packed
    assert tlvs[0x03].startswith(b"UVC.")
    assert audit_of(sim) == []


async def test_ssdp_msearch_unicast(sim: DevSim) -> None:
    search = (
        b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
        b"MX: 1\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"
    )
    data, src = await udp_ask((ROUTER, 1900), search)
    text = data.decode()
    assert src == (ROUTER, 1900) and text.startswith("HTTP/1.1 200 OK\r\n")
    assert f"LOCATION: http://{ROUTER}:5555/Public_UPNP_gatedesc.xml" in text
    assert "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1" in text
    assert "USN: uuid:" in text and "SERVER: Linux/2.6.36.4brcmarm+" in text


# ------------------------------------------------------------------ the audit log


async def test_audit_records_writes_and_guesses_never_reads(sim: DevSim) -> None:
    for path in ("/", "/doc/page/login.asp", "/ISAPI/System/deviceInfo", "/nope"):
        await http(HIK, 80, path)
    await http(HIK, 80, "/", method="HEAD")
    await rtsp(HIK, ["OPTIONS rtsp://x/", "DESCRIBE rtsp://x/"])
    await onvif_call(HIK, "GetSystemDateAndTime")
    assert audit_of(sim) == []

    status, *_ = await http(HIK, 80, "/ISAPI/System/reboot", method="PUT")
    assert status == 405
    basic = base64.b64encode(b"admin:12345").decode()
    status, *_ = await http(
        HIK, 80, "/ISAPI/System/deviceInfo", headers={"Authorization": f"Basic {basic}"}
    )
    assert status == 401
    good = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    status, *_ = await http(
        HIK, 80, "/ISAPI/System/deviceInfo", headers={"Authorization": f"Basic {good}"}
    )
    assert status == 200
    await onvif_call(HIK, "SystemReboot")
    await rtsp(HIK, ["SETUP rtsp://x/trackID=1"])
    reader, writer = await asyncio.open_connection(HIK, 8000)
    writer.write(b"\x00\x00\x00\x20login")
    await writer.drain()
    await reader.read()  # the device closes after reading
    writer.close()

    records = audit_of(sim)
    assert [(r["proto"], r["kind"]) for r in records] == [
        ("http", WRITE),
        ("http", BAD_CREDENTIALS),
        ("http", AUTH_READ),
        ("http", WRITE),
        ("rtsp", WRITE),
        ("tcp", SDK_DATA),
    ]
    assert records[0]["detail"] == "PUT /ISAPI/System/reboot" and records[0]["ip"] == HIK
    assert records[1]["username"] == "admin" and "12345" not in json.dumps(records)
    assert records[3]["detail"] == "ONVIF SystemReboot"
    assert set(records[0]) >= {"ts", "persona", "ip", "proto", "port", "peer", "kind", "detail"}


async def test_digest_credentials_are_checked(sim: DevSim) -> None:
    def digest(password: str) -> str:
        realm, nonce, uri = "IP Camera(J1234)", "abc", "/ISAPI/System/deviceInfo"
        ha1 = hashlib.md5(f"admin:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"GET:{uri}".encode()).hexdigest()
        resp = hashlib.md5(f"{ha1}:{nonce}:00000001:xyz:auth:{ha2}".encode()).hexdigest()
        return (
            f'Digest username="admin", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'qop=auth, nc=00000001, cnonce="xyz", response="{resp}"'
        )

    ok = await http(
        HIK, 80, "/ISAPI/System/deviceInfo", headers={"Authorization": digest(PASSWORD)}
    )
    bad = await http(
        HIK, 80, "/ISAPI/System/deviceInfo", headers={"Authorization": digest("12345")}
    )
    assert (ok[0], bad[0]) == (200, 401)
    assert [r["kind"] for r in audit_of(sim)] == [AUTH_READ, BAD_CREDENTIALS]


# ------------------------------------------------------------------ the command line


def test_cli_ready_and_clean_sigterm(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_PERSONAS.read_text())
    picked = [d for d in data["devices"] if d["name"] in ("web-nginx", "office-pc")]
    for i, dev in enumerate(picked):
        dev["ip"] = f"127.77.1.{10 + i}"
    doc = json.dumps({"devices": picked})
    audit_path = tmp_path / "audit.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "camscan.lab.devsim",
            "--personas-json",
            "-",
            "--audit-log",
            str(audit_path),
            "--bind-any-ip",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        proc.stdin.write(doc.encode())
        proc.stdin.close()
        assert proc.stdout.readline() == b"READY 2\n"
        import socket

        with socket.create_connection(("127.77.1.11", 22), timeout=5) as s:
            assert s.recv(100).startswith(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_non_lab_addresses_outside_test_mode(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_PERSONAS.read_text())
    dev = next(d for d in data["devices"] if d["name"] == "web-nginx")
    dev["ip"] = "127.77.1.20"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "camscan.lab.devsim",
            "--personas-json",
            "-",
            "--audit-log",
            str(tmp_path / "a.jsonl"),
        ],
        input=json.dumps({"devices": [dev]}).encode(),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == b""
    err = proc.stderr.decode()
    assert err.startswith("devsim: error: ") and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ scale


async def test_one_process_serves_1000_generated_personas(tmp_path: Path) -> None:
    devices = generate_office(1000, "127.78.0.0/22", seed=1)
    simulator = DevSim(devices, DevSimOptions(audit_log=tmp_path / "a.jsonl", loopback=True))
    t0 = time.perf_counter()
    await simulator.start()
    elapsed = time.perf_counter() - t0
    try:
        assert len(simulator.served) == 1000
        sample = [d for d in devices if d.has("http")][::97]
        for d in sample:
            port = d.block("http")["ports"][0]
            status, *_ = await http(d.ip, port, "/")
            assert status in (200, 302, 401), d.name
        print(f"\n1000 personas bound in {elapsed:.2f}s, {len(os.listdir('/proc/self/fd'))} fds")
    finally:
        await simulator.close()


# ------------------------------------------------------------------ parsers never raise


PARSERS = [
    lambda b: wsd.parse_probe(b),
    lambda b: sadp.parse_probe(b),
    lambda b: dahua.parse_dhip(b),
    lambda b: ssdp.parse_msearch(b),
    lambda b: onvif.parse_soap(b),
    lambda b: wire.parse_request_head(b, ("HTTP/1.1", "RTSP/1.0")),
]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(range(len(PARSERS))))
def test_parsers_return_a_record_or_parse_error(data: bytes, which: int) -> None:
    try:
        PARSERS[which](data)
    except ParseError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_parsers_survive_xmlish_text(text: str) -> None:
    for blob in (f"<Probe><Types>{text}</Types></Probe>", f"<?xml version='1.0'?>{text}"):
        for parse in PARSERS:
            try:
                parse(blob.encode())
            except ParseError:
                pass


def test_parsers_refuse_entity_bombs() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Probe><Types>&b;</Types></Probe>'
    )
    for parse in (wsd.parse_probe, sadp.parse_probe, onvif.parse_soap):
        with pytest.raises(ParseError):
            parse(bomb)
