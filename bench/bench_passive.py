"""Passive-mode throughput: packets per second and peak memory, camscan vs plain scapy.

Generates (deterministically, from --seed) a capture of --packets packets in a temp dir:
mostly unrelated office traffic (HTTPS both ways, QUIC, SMB/RDP, NTP/LLMNR/NetBIOS, ordinary
DNS, ARP, some IPv6) with a sprinkling of camera traffic (SADP, WS-Discovery, SSDP, DHCP,
HTTP, RTSP, TLS certificates, vendor-cloud DNS). Then, each in its own process:

  * camscan: `passive_evidence` over the whole file (the passive fast path), then fusion;
  * scapy:   `scapy.utils.PcapReader` over the first --scapy-packets packets, doing the
             haslayer()/field checks a scapy-based reader would do; its rate is extrapolated
             to the whole file (scapy on 2 million packets takes many minutes).

--mix dualstack moves half of the bulk traffic (HTTPS, QUIC) to IPv6 and adds IPv6 and
fragmented camera traffic (mDNS over IPv6 link-local, neighbor advertisements, a large
WS-Discovery ProbeMatch in IPv4 fragments and in IPv6 fragments); --mix office is the mix
above, byte for byte as before those existed.

Peak RSS is each process's own ru_maxrss. Usage:
  python bench/bench_passive.py [--packets 2000000] [--scapy-packets 50000] [--seed 1] [--keep]
                                [--mix office|dualstack]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
LAN = "10.20."
CAMERA_SHARE = 0.005


def _templates(mix: str = "office") -> tuple[list[tuple[float, bytes, str]], list[list[bytes]]]:
    """(weight, frame, kind) of the unrelated mix, and the camera bursts (frames written
    back to back: fragments of one datagram)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import (
        IPv6,
    )
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    pc, gw, cam = "02:00:00:00:10:01", "02:00:00:00:00:fe", "28:57:be:00:00:21"

    def eth(src: str = pc, dst: str = gw) -> Ether:
        return Ether(src=src, dst=dst)

    tls_data = bytes([0x17, 3, 3, 0x05, 0x00]) + bytes(1200)
    unrelated = [
        (0.40, eth(gw, pc) / IP(src="142.250.1.1", dst=LAN + "1.1")
         / TCP(sport=443, dport=50000, flags="A") / Raw(tls_data), "tcp-in"),
        (0.20, eth() / IP(src=LAN + "1.1", dst="142.250.1.1")
         / TCP(sport=50000, dport=443, flags="A"), "tcp-out"),
        (0.10, eth(gw, pc) / IP(src="142.250.1.1", dst=LAN + "1.1")
         / UDP(sport=443, dport=50000) / Raw(bytes(1100)), "udp"),
        (0.08, eth() / IP(src=LAN + "1.1", dst=LAN + "0.10")
         / TCP(sport=50001, dport=445, flags="PA") / Raw(bytes(300)), "tcp-lan"),
        (0.05, eth() / IP(src=LAN + "1.1", dst=LAN + "0.11")
         / TCP(sport=50002, dport=3389, flags="PA") / Raw(bytes(120)), "tcp-lan"),
        (0.05, eth() / IP(src=LAN + "1.1", dst="224.0.0.252")
         / UDP(sport=50003, dport=5355) / Raw(bytes(30)), "udp"),
        (0.04, eth() / IP(src=LAN + "1.1", dst=LAN + "0.1")
         / UDP(sport=50004, dport=53) / DNS(rd=1, qd=DNSQR(qname="www.example.org")), "dns"),
        (0.04, eth(gw, pc) / IP(src=LAN + "0.1", dst=LAN + "1.1")
         / UDP(sport=53, dport=50004) / DNS(qr=1, qd=DNSQR(qname="www.example.org")), "dns"),
        (0.02, eth() / IPv6(src="fe80::1", dst="ff02::1") / UDP(sport=546, dport=547)
         / Raw(bytes(60)), "other"),
        (0.01, eth(pc, "ff:ff:ff:ff:ff:ff") / ARP(hwsrc=pc, psrc=LAN + "1.1", pdst=LAN + "0.1"),
         "other"),
        (0.01, eth() / IP(src=LAN + "1.1", dst="129.6.15.28")
         / UDP(sport=123, dport=123) / Raw(bytes(48)), "udp"),
    ]  # fmt: skip

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.hikvision.com"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HIKVISION")])  # fmt: skip
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(__import__("datetime").datetime(2020, 1, 1))
        .not_valid_after(__import__("datetime").datetime(2030, 1, 1))
        .sign(key, hashes.SHA256())
    ).public_bytes(Encoding.DER)  # fmt: skip
    cert_list = len(cert).to_bytes(3, "big") + cert
    certmsg = bytes([11]) + (len(cert_list) + 3).to_bytes(3, "big")
    certmsg += (len(cert_list)).to_bytes(3, "big") + cert_list
    hello = bytes([2]) + (38).to_bytes(3, "big") + b"\x03\x03" + bytes(32) + b"\x00\x00\x2f\x00"
    hs = hello + certmsg + bytes([14, 0, 0, 0])
    tls_flight = bytes([22, 3, 3]) + len(hs).to_bytes(2, "big") + hs

    sadp = (b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>A</Uuid>'
            b"<Types>inquiry</Types><DeviceType>139</DeviceType>"
            b"<DeviceDescription>DS-2CD2143G0-I</DeviceDescription><MAC>28-57-be-00-00-21</MAC>"
            b"<IPv4Address>10.20.0.33</IPv4Address><SoftwareVersion>V5.5.0</SoftwareVersion>"
            b"</ProbeMatch>")  # fmt: skip
    notify = (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        b"NTS: ssdp:alive\r\nLOCATION: http://10.20.0.33:8080/desc.xml\r\n"
        b"SERVER: Linux/4.9, UPnP/1.0, Portable SDK for UPnP devices/1.6.22\r\n\r\n"
    )
    http = (
        b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: text/html\r\n"
        b"Content-Length: 52\r\n\r\n<html><head><title>Login</title></head></html>\r\n\r\n"
    )
    rtsp = (b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm="device"\r\n'
            b"Server: Dahua Rtsp Server\r\n\r\n")  # fmt: skip
    cip = LAN + "0.33"
    camera = [
        eth(cam, "01:00:5e:7f:ff:fa") / IP(src=cip, dst="239.255.255.250")
        / UDP(sport=37020, dport=37020) / Raw(sadp),
        eth(cam, "01:00:5e:7f:ff:fa") / IP(src=cip, dst="239.255.255.250")
        / UDP(sport=1900, dport=1900) / Raw(notify),
        eth(cam, pc) / IP(src=cip, dst=LAN + "1.1") / TCP(sport=80, dport=51000, flags="PA",
                                                          seq=7) / Raw(http),
        eth(cam, pc) / IP(src=cip, dst=LAN + "1.1") / TCP(sport=554, dport=51001, flags="PA",
                                                          seq=7) / Raw(rtsp),
        eth(cam, pc) / IP(src=cip, dst=LAN + "1.1") / TCP(sport=443, dport=51002, flags="PA",
                                                          seq=7) / Raw(tls_flight),
        eth(cam, gw) / IP(src=cip, dst=LAN + "0.1") / UDP(sport=40000, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="litedev.hik-connect.com")),
        eth(cam, "ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67) / BOOTP(chaddr=bytes.fromhex("2857be000021"))
        / DHCP(options=[("message-type", "request"), ("vendor_class_id", b"udhcp 1.20.2"),
                        ("hostname", b"IPC"), "end"]),
    ]  # fmt: skip
    bursts = [[bytes(p)] for p in camera]
    if mix == "dualstack":
        unrelated, v6_bursts = _dualstack(unrelated, eth, tls_data, cam, pc)
        bursts += v6_bursts
    return [(w, bytes(p), k) for w, p, k in unrelated], bursts


def _dualstack(unrelated: list, eth: Any, tls_data: bytes, cam: str, pc: str) -> tuple[list, list]:
    """Half the bulk traffic over IPv6; the IPv6 and fragmented camera bursts."""
    from scapy.layers.inet import IP, TCP, UDP, fragment
    from scapy.layers.inet6 import (
        ICMPv6ND_NA,
        ICMPv6NDOptDstLLAddr,
        IPv6,
        IPv6ExtHdrFragment,
        fragment6,
    )
    from scapy.packet import Raw
    from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText, const

    gw = "02:00:00:00:00:fe"
    remote, lan = "2a00:1450:4001::1", "2001:db8:20::1"
    out = []
    for w, p, k in unrelated:
        if k in ("tcp-in", "tcp-out", "udp") and p.haslayer(IP) and p[IP].sport != 123:
            out.append((w / 2, p, k))
    out += [
        (0.20, eth(gw, pc) / IPv6(src=remote, dst=lan)
         / TCP(sport=443, dport=50000, flags="A") / Raw(tls_data), "tcp-in6"),
        (0.10, eth() / IPv6(src=lan, dst=remote) / TCP(sport=50000, dport=443, flags="A"),
         "tcp-out6"),
        (0.05, eth(gw, pc) / IPv6(src=remote, dst=lan) / UDP(sport=443, dport=50000)
         / Raw(bytes(1100)), "udp6"),
    ]  # fmt: skip
    out += [(w, p, k) for w, p, k in unrelated if k not in ("tcp-in", "tcp-out", "udp")]
    out += [(w, p, k) for w, p, k in unrelated if k == "udp" and p[IP].sport == 123]

    ll = "fe80::2a57:beff:fe00:21"
    host, inst = "ipc.local.", "IPC._http._tcp.local."
    msg = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    unique = const._CLASS_IN | const._CLASS_UNIQUE
    msg.add_answer_at_time(DNSPointer("_http._tcp.local.", 12, const._CLASS_IN, 4500, inst), 0)
    msg.add_answer_at_time(DNSService(inst, 33, unique, 120, 0, 0, 80, host), 0)
    msg.add_answer_at_time(DNSText(inst, 16, unique, 4500, b"\x0bmodel=DS-2CD"), 0)
    msg.add_answer_at_time(DNSAddress(host, 28, unique, 120, bytes.fromhex("fe80" + "0" * 12)
                                      + bytes.fromhex("2a57befffe000021")), 0)  # fmt: skip
    scopes = b" ".join(b"onvif://www.onvif.org/location/floor%d" % i for i in range(80))
    probe_match = (
        b'<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header><w:Action>'
        b"http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</w:Action></e:Header>"
        b"<e:Body><d:ProbeMatches><d:ProbeMatch><w:EndpointReference><w:Address>urn:uuid:1"
        b"</w:Address></w:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        b"<d:Scopes>onvif://www.onvif.org/name/HIKVISION " + scopes + b"</d:Scopes>"
        b"<d:XAddrs>http://10.20.0.33/onvif/device_service</d:XAddrs>"
        b"</d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>"
    )
    wsd4 = IP(src=LAN + "0.33", dst=LAN + "1.1", id=77) / UDP(sport=3702, dport=3702)
    wsd6 = (IPv6(src=ll, dst="fe80::1") / IPv6ExtHdrFragment(id=77)
            / UDP(sport=3702, dport=3702) / Raw(probe_match))  # fmt: skip
    bursts = [
        [eth(cam, "33:33:00:00:00:fb") / IPv6(src=ll, dst="ff02::fb")
         / UDP(sport=5353, dport=5353) / Raw(msg.packets()[0])],
        [eth(cam, "33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1", hlim=255)
         / ICMPv6ND_NA(tgt=ll) / ICMPv6NDOptDstLLAddr(lladdr=cam)],
        [eth(cam, pc) / f for f in fragment(wsd4 / Raw(probe_match), fragsize=1400)],
        [eth(cam, pc) / f for f in fragment6(wsd6, 1280)],
    ]  # fmt: skip
    return out, [[bytes(p) for p in burst] for burst in bursts]


def generate(path: Path, packets: int, seed: int, mix: str = "office") -> int:
    """Write the capture; returns its size in bytes."""
    rnd = random.Random(seed)
    unrelated, camera = _templates(mix)
    weights = [w for w, _, _ in unrelated]
    ts = 1_700_000_000.0
    pack = struct.Struct("<IIII").pack
    with open(path, "wb", buffering=1 << 20) as fh:
        fh.write(PCAP_HEADER)
        i = 0
        while i < packets:
            ts += rnd.random() * 0.001
            if rnd.random() < CAMERA_SHARE:
                burst = camera[i % len(camera)][: packets - i]
                sec = int(ts)
                for frame in burst:
                    fh.write(pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame)
                i += len(burst)
                continue
            else:
                _, tmpl, kind = rnd.choices(unrelated, weights)[0]
                frame = bytearray(tmpl)
                host = rnd.randrange(1, 250)
                if kind == "tcp-in" or kind == "udp":
                    frame[29] = rnd.randrange(1, 250)  # many remote servers
                    frame[33] = host
                    frame[36:38] = rnd.randrange(32768, 61000).to_bytes(2, "big")
                elif kind == "tcp-out" or kind == "tcp-lan":
                    frame[29] = host
                    frame[34:36] = rnd.randrange(32768, 61000).to_bytes(2, "big")
                elif kind == "tcp-in6" or kind == "udp6":
                    frame[37] = rnd.randrange(1, 250)
                    frame[53] = host
                    frame[56:58] = rnd.randrange(32768, 61000).to_bytes(2, "big")
                elif kind == "tcp-out6":
                    frame[37] = host
                    frame[54:56] = rnd.randrange(32768, 61000).to_bytes(2, "big")
                if kind in ("tcp-in", "udp") and len(frame) > 400:
                    del frame[rnd.randrange(400, len(frame)) :]  # vary the sizes
                    total = len(frame) - 14
                    frame[16:18] = total.to_bytes(2, "big")
                    if kind == "udp":
                        frame[38:40] = (total - 20).to_bytes(2, "big")
                elif kind in ("tcp-in6", "udp6") and len(frame) > 400:
                    del frame[rnd.randrange(400, len(frame)) :]
                    frame[18:20] = (len(frame) - 54).to_bytes(2, "big")
                    if kind == "udp6":
                        frame[58:60] = (len(frame) - 54).to_bytes(2, "big")
            sec = int(ts)
            fh.write(pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            fh.write(frame)
            i += 1
    return path.stat().st_size


CAMSCAN_CHILD = """
import json, resource, sys, time
from camscan.fingerprint.engine import Engine
from camscan.fusion import fuse
from camscan.passive import PassiveStats, passive_evidence
st = PassiveStats()
t = time.perf_counter()
evidence = list(passive_evidence([sys.argv[1]], stats=st))
read = time.perf_counter() - t
devices = fuse(evidence, Engine.load())
total = time.perf_counter() - t
print(json.dumps({"packets": st.packets, "seconds": read, "total_seconds": total,
    "evidence": len(evidence), "devices": len(devices),
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SCAPY_CHILD = """
import json, resource, sys, time
from scapy.layers.inet import TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import PcapReader
limit = int(sys.argv[2])
udp_ports = {53, 67, 68, 1900, 3702, 5050, 5353, 37020, 37810}
tcp_ports = {53, 80, 81, 88, 443, 554, 8000, 8080, 8443, 8554, 37777}
hits = n = 0
t = time.perf_counter()
for pkt in PcapReader(sys.argv[1]):
    n += 1
    if pkt.haslayer(ARP):
        hits += 1
    elif pkt.haslayer(UDP):
        u = pkt[UDP]
        hits += u.sport in udp_ports or u.dport in udp_ports
    elif pkt.haslayer(TCP):
        tc = pkt[TCP]
        hits += tc.sport in tcp_ports or tc.dport in tcp_ports
    if pkt.haslayer(Ether):
        _ = pkt[Ether].src
    if n >= limit:
        break
print(json.dumps({"packets": n, "seconds": time.perf_counter() - t, "hits": hits,
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--scapy-packets", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the generated capture")
    ap.add_argument("--mix", choices=["office", "dualstack"], default="office")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="camscan-bench-"))
    path = tmp / f"{args.mix}.pcap"
    t = time.perf_counter()
    size = generate(path, args.packets, args.seed, args.mix)
    print(f"generated {args.packets:,} packets ({args.mix}), {size / 2**20:.0f} MiB in "
          f"{time.perf_counter() - t:.1f} s: {path}")  # fmt: skip
    try:
        cs = child(CAMSCAN_CHILD, str(path))
        cs_rate = cs["packets"] / cs["seconds"]
        print(f"camscan: {cs['packets']:,} packets in {cs['seconds']:.2f} s = "
              f"{cs_rate:,.0f} packets/s (one core); with fusion {cs['total_seconds']:.2f} s; "
              f"{cs['evidence']} evidence, {cs['devices']} devices; "
              f"peak RSS {cs['rss_mib']:.0f} MiB")  # fmt: skip
        sc = child(SCAPY_CHILD, str(path), str(args.scapy_packets))
        sc_rate = sc["packets"] / sc["seconds"]
        print(f"scapy:   first {sc['packets']:,} packets in {sc['seconds']:.2f} s = "
              f"{sc_rate:,.0f} packets/s; whole file extrapolated: "
              f"{args.packets / sc_rate:,.0f} s; peak RSS {sc['rss_mib']:.0f} MiB")  # fmt: skip
        print(f"ratio:   camscan is {cs_rate / sc_rate:,.1f}x scapy")
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            os.unlink(path)
            tmp.rmdir()


if __name__ == "__main__":
    main()
