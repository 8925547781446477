"""Realistic camera traffic built with scapy, and capture writers, shared by the passive tests
(imported as `test_passive_packets`). The few tests here check the builders themselves."""

from __future__ import annotations

import datetime
import json
import struct
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText, const

SCANNER_IP, SCANNER_MAC = "198.18.0.1", "02:00:00:00:00:01"
HIK_IP, HIK_MAC = "198.18.0.21", "28:57:be:00:00:21"
DAHUA_IP, DAHUA_MAC = "198.18.0.31", "3c:ef:8c:00:00:31"
AXIS_IP, AXIS_MAC = "198.18.0.41", "ac:cc:8e:00:00:41"
RESOLVER_IP = "198.18.0.53"

SADP_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch>'
    b"<Uuid>6A0BE1A4-53B1-4E8C-93A8-0F0E1D2C3B4A</Uuid><Types>inquiry</Types>"
    b"<DeviceType>139</DeviceType><DeviceDescription>DS-2CD2143G0-I</DeviceDescription>"
    b"<DeviceSN>DS-2CD2143G0-I20200101AAWRD12345678</DeviceSN><CommandPort>8000</CommandPort>"
    b"<HttpPort>80</HttpPort><MAC>28-57-be-00-00-21</MAC><IPv4Address>198.18.0.21</IPv4Address>"
    b"<IPv4SubnetMask>255.255.255.0</IPv4SubnetMask><SoftwareVersion>V5.5.0build 170725"
    b"</SoftwareVersion><DSPVersion>V7.3 build 170714</DSPVersion><Activated>true</Activated>"
    b"</ProbeMatch>"
)
SADP_INQUIRY = (
    b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>0F0E1D2C-3B4A-4E8C-93A8-6A0BE1A453B1'
    b"</Uuid><Types>inquiry</Types></Probe>"
)
WSD_HELLO = (
    b'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope '
    b'xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><SOAP-ENV:Header>'
    b"<wsa:MessageID>urn:uuid:1c9a8f2e-0000-4000-8000-3cef8c000031</wsa:MessageID>"
    b"<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>"
    b"<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</wsa:Action>"
    b"</SOAP-ENV:Header><SOAP-ENV:Body><d:Hello><wsa:EndpointReference><wsa:Address>"
    b"urn:uuid:3cef8c00-0031-4000-8000-3cef8c000031</wsa:Address></wsa:EndpointReference>"
    b"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>onvif://www.onvif.org/name/Dahua "
    b"onvif://www.onvif.org/hardware/IPC-HFW2228M-I1-V2 onvif://www.onvif.org/type/video_encoder"
    b"</d:Scopes><d:XAddrs>http://198.18.0.31/onvif/device_service</d:XAddrs>"
    b"<d:MetadataVersion>1</d:MetadataVersion></d:Hello></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
SSDP_NOTIFY = (
    b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
    b"LOCATION: http://198.18.0.41:49152/rootdesc.xml\r\nNT: upnp:rootdevice\r\n"
    b"NTS: ssdp:alive\r\nSERVER: Linux/4.9.0-axis1, UPnP/1.0, Portable SDK for UPnP "
    b"devices/1.6.22\r\nUSN: uuid:Upnp-BasicDevice-1_0-ACCC8E000041::upnp:rootdevice\r\n\r\n"
)
SSDP_MSEARCH = (
    b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
    b"MX: 1\r\nST: ssdp:all\r\n\r\n"
)
UPNP_DESCRIPTION = (
    b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion>'
    b"<major>1</major><minor>0</minor></specVersion><device>"
    b"<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>"
    b"<friendlyName>AXIS M3045-V - ACCC8E000041</friendlyName>"
    b"<manufacturer>AXIS</manufacturer><modelName>AXIS M3045-V</modelName>"
    b"<modelNumber>M3045-V</modelNumber><serialNumber>ACCC8E000041</serialNumber>"
    b"<UDN>uuid:Upnp-BasicDevice-1_0-ACCC8E000041</UDN></device></root>"
)
HTTP_HEAD = (
    b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: text/html\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n"
)
HTTP_BODY = b"<html><head><title>Hikvision Login</title></head><body>login</body></html>"
RTSP_401 = (
    b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm="device"\r\n'
    b"Server: Dahua Rtsp Server\r\n\r\n"
)
DHCP_VENDOR = b"AXIS,Network Camera,M3045-V,10.12.0"


def dhip_reply() -> bytes:
    body = json.dumps(
        {
            "mac": "3c:ef:8c:00:00:31",
            "method": "client.notifyDevInfo",
            "params": {
                "deviceInfo": {
                    "DeviceClass": "IPC",
                    "DeviceType": "IPC-HFW2228M-I1-V2",
                    "HttpPort": 80,
                    "IPv4Address": {"IPAddress": DAHUA_IP, "SubnetMask": "255.255.255.0"},
                    "MachineName": "8L0A1B2C3D4E5F6",
                    "Port": 37777,
                    "SerialNo": "8L0A1B2C3D4E5F6",
                    "Vendor": "General",
                    "Version": "2.800.0000000.16.R",
                }
            },
        },
        separators=(",", ":"),
    ).encode()
    n = len(body)
    return struct.pack("<I4s8xI4xI4x", 0x20, b"DHIP", n, n) + body


def dhip_search() -> bytes:
    body = b'{"method":"DHDiscover.search","params":{"mac":"","uni":1}}'
    n = len(body)
    return struct.pack("<I4s8xI4xI4x", 0x20, b"DHIP", n, n) + body


def make_cert(cn: str = "www.hikvision.com", org: str = "HIKVISION") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2040, 1, 1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def _hs(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + len(body).to_bytes(3, "big") + body


def server_hello(tls13: bool = False) -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00"
    ext = b"\x00\x2b\x00\x02\x03\x04" if tls13 else b"\xff\x01\x00\x01\x00"
    return _hs(2, body + len(ext).to_bytes(2, "big") + ext)


def tls_server_flight(der: bytes, *, record_split: int | None = None) -> bytes:
    """ServerHello, Certificate (leaf + a fake intermediate), ServerHelloDone in handshake
    records; record_split cuts the handshake bytes into records of that size."""
    certs = b"".join(len(c).to_bytes(3, "big") + c for c in (der, b"\x30\x03\x02\x01\x01"))
    hs = server_hello() + _hs(11, len(certs).to_bytes(3, "big") + certs) + _hs(14, b"")
    size = record_split or len(hs)
    return b"".join(
        b"\x16\x03\x03" + len(part).to_bytes(2, "big") + part
        for part in (hs[i : i + size] for i in range(0, len(hs), size))
    )


def mdns_announcement() -> bytes:
    inst = "AXIS M3045-V - ACCC8E000041._axis-video._tcp.local."
    host = "axis-accc8e000041.local."
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    unique = const._CLASS_IN | const._CLASS_UNIQUE
    out.add_answer_at_time(
        DNSPointer("_axis-video._tcp.local.", const._TYPE_PTR, const._CLASS_IN, 4500, inst), 0
    )
    out.add_answer_at_time(DNSService(inst, const._TYPE_SRV, unique, 120, 0, 0, 80, host), 0)
    out.add_answer_at_time(
        DNSText(inst, const._TYPE_TXT, unique, 4500, b"\x17macaddress=ACCC8E000041"), 0
    )
    out.add_answer_at_time(DNSAddress(host, const._TYPE_A, unique, 120, bytes([198, 18, 0, 41])), 0)
    return out.packets()[0]


def tcp_segments(
    server: tuple[str, str, int],
    client: tuple[str, str, int],
    payload: bytes,
    *,
    sizes: Sequence[int],
    seq: int = 1_000_000,
    fin: bool = True,
) -> list[Packet]:
    """The server's answer cut into segments of the given sizes (the rest in the last one)."""
    (sip, smac, sport), (cip, cmac, cport) = server, client
    pkts, off = [], 0
    cuts = [*sizes, len(payload)]
    for i, size in enumerate(cuts):
        part = payload[off : off + size] if i < len(sizes) else payload[off:]
        if not part:
            break
        last = i == len(cuts) - 1 or off + len(part) >= len(payload)
        flags = "FPA" if last and fin else "PA"
        pkts.append(
            Ether(src=smac, dst=cmac) / IP(src=sip, dst=cip)
            / TCP(sport=sport, dport=cport, flags=flags, seq=seq + off) / Raw(part)
        )  # fmt: skip
        off += len(part)
        if off >= len(payload):
            break
    return pkts


def camera_traffic() -> list[Packet]:
    """One of each: what passive mode must read (numbers in comments are packet numbers)."""
    cert = make_cert()
    body = HTTP_BODY
    head = HTTP_HEAD % len(body)
    hik, scanner = (HIK_IP, HIK_MAC, 80), (SCANNER_IP, SCANNER_MAC, 40000)
    request = (
        Ether(src=SCANNER_MAC, dst=HIK_MAC)
        / IP(src=SCANNER_IP, dst=HIK_IP)
        / TCP(sport=40000, dport=80, flags="PA", seq=1)
        / Raw(b"GET /doc/page/login.asp HTTP/1.1\r\nHost: x\r\n\r\n")
    )
    return [
        # 1: ARP reply from the Hikvision camera
        Ether(src=HIK_MAC, dst=SCANNER_MAC)
        / ARP(op=2, hwsrc=HIK_MAC, psrc=HIK_IP, hwdst=SCANNER_MAC, pdst=SCANNER_IP),
        # 2: SADP inquiry from a scanner (ignored), 3: the ProbeMatch
        Ether(src=SCANNER_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=SCANNER_IP, dst="239.255.255.250")
        / UDP(sport=37020, dport=37020) / Raw(SADP_INQUIRY),
        Ether(src=HIK_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=HIK_IP, dst="239.255.255.250")
        / UDP(sport=37020, dport=37020) / Raw(SADP_REPLY),
        # 4: DHIP search (ignored), 5: the Dahua reply
        Ether(src=SCANNER_MAC, dst="01:00:5e:7f:ff:fb") / IP(src=SCANNER_IP, dst="239.255.255.251")
        / UDP(sport=5000, dport=37810) / Raw(dhip_search()),
        Ether(src=DAHUA_MAC, dst=SCANNER_MAC) / IP(src=DAHUA_IP, dst=SCANNER_IP)
        / UDP(sport=37810, dport=5000) / Raw(dhip_reply()),
        # 6: WS-Discovery Hello from the Dahua camera
        Ether(src=DAHUA_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=DAHUA_IP, dst="239.255.255.250")
        / UDP(sport=3702, dport=3702) / Raw(WSD_HELLO),
        # 7: M-SEARCH (ignored), 8: SSDP NOTIFY from the Axis camera
        Ether(src=SCANNER_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=SCANNER_IP, dst="239.255.255.250")
        / UDP(sport=1900, dport=1900) / Raw(SSDP_MSEARCH),
        Ether(src=AXIS_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=AXIS_IP, dst="239.255.255.250")
        / UDP(sport=1900, dport=1900) / Raw(SSDP_NOTIFY),
        # 9: DHCP request from the Axis camera
        Ether(src=AXIS_MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex(AXIS_MAC.replace(":", "")), xid=0x1234)
        / DHCP(options=[("message-type", "request"), ("requested_addr", AXIS_IP),
                        ("vendor_class_id", DHCP_VENDOR), ("hostname", b"axis-accc8e000041"),
                        ("param_req_list", [1, 3, 6, 12, 15, 28, 42]), "end"]),
        # 10: SYN/ACK from the Hikvision web server, 11: GET, 12-13: the answer in 2 segments
        Ether(src=HIK_MAC, dst=SCANNER_MAC) / IP(src=HIK_IP, dst=SCANNER_IP)
        / TCP(sport=80, dport=40000, flags="SA", seq=999_999),
        request,
        *tcp_segments(hik, scanner, head + body, sizes=[len(head) + 10]),
        # 14: RTSP 401 from the Dahua camera
        *tcp_segments((DAHUA_IP, DAHUA_MAC, 554), (SCANNER_IP, SCANNER_MAC, 40001), RTSP_401,
                      sizes=[]),
        # 15-16: TLS 1.2 server flight, the certificate split over two segments
        *tcp_segments((HIK_IP, HIK_MAC, 443), (SCANNER_IP, SCANNER_MAC, 40002),
                      tls_server_flight(cert), sizes=[300], fin=False),
        # 17: the Hikvision camera looks up its cloud
        Ether(src=HIK_MAC, dst=SCANNER_MAC) / IP(src=HIK_IP, dst=RESOLVER_IP)
        / UDP(sport=51000, dport=53) / DNS(rd=1, qd=DNSQR(qname="litedev.hik-connect.com")),
        # 18: mDNS announcement of the Axis camera
        Ether(src=AXIS_MAC, dst="01:00:5e:00:00:fb") / IP(src=AXIS_IP, dst="224.0.0.251")
        / UDP(sport=5353, dport=5353) / Raw(mdns_announcement()),
    ]  # fmt: skip


# -- capture writers -----------------------------------------------------------------------


def write_pcap(
    path: Path,
    frames: Sequence[tuple[float, bytes]],
    *,
    linktype: int = 1,
    endian: str = "<",
    nano: bool = False,
    snaplen: int = 65535,
) -> Path:
    """A classic pcap written by hand, any byte order, micro- or nanosecond timestamps;
    frames longer than snaplen are cut like a capture with -s would."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    div = 1_000_000_000 if nano else 1_000_000
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, frame in frames:
        sec = int(ts)
        frac = round((ts - sec) * div)
        cut = frame[:snaplen]
        out.append(struct.pack(endian + "IIII", sec, frac, len(cut), len(frame)) + cut)
    path.write_bytes(b"".join(out))
    return path


def _block(btype: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def pcapng_shb(endian: str = "<") -> bytes:
    return _block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def pcapng_idb(linktype: int, *, tsresol: int | None = None, endian: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts = struct.pack(endian + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
        opts += struct.pack(endian + "HH", 0, 0)
    return _block(1, struct.pack(endian + "HHI", linktype, 0, 65535) + opts, endian)


def pcapng_epb(iface: int, ts_units: int, frame: bytes, endian: str = "<") -> bytes:
    hi, lo = ts_units >> 32, ts_units & 0xFFFFFFFF
    body = struct.pack(endian + "IIIII", iface, hi, lo, len(frame), len(frame)) + frame
    return _block(6, body, endian)


def pcapng_spb(frame: bytes, endian: str = "<") -> bytes:
    return _block(3, struct.pack(endian + "I", len(frame)) + frame, endian)


# -- the builders' own tests ---------------------------------------------------------------


def test_camera_traffic_builds() -> None:
    pkts = camera_traffic()
    assert len(pkts) == 18
    assert all(len(bytes(p)) > 14 for p in pkts)


def test_tls_flight_records_split() -> None:
    flight = tls_server_flight(make_cert(), record_split=100)
    assert flight[:3] == b"\x16\x03\x03"
    assert flight.count(b"\x16\x03\x03") >= 3
