"""Passive-mode throughput: packets per second and peak memory, camscan vs plain scapy.

Generates (deterministically, from --seed) a capture of --packets packets in a temp dir:
mostly unrelated office traffic (HTTPS both ways, QUIC, SMB/RDP, NTP/LLMNR/NetBIOS, ordinary
DNS, ARP, some IPv6) with a sprinkling of camera traffic (SADP, WS-Discovery, SSDP, DHCP,
HTTP, RTSP, TLS certificates, vendor-cloud DNS). Then, each in its own process:

  * camscan: `passive_evidence` over the whole file (the passive fast path), then fusion;
  * scapy:   `scapy.utils.PcapReader` over the first --scapy-packets packets, doing the
             haslayer()/field checks a scapy-based reader would do; its rate is extrapolated
             to the whole file (scapy on 2 million packets takes many minutes).

Peak RSS is each process's own ru_maxrss. Usage:
  python bench/bench_passive.py [--packets 2000000] [--scapy-packets 50000] [--seed 1] [--keep]
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

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
LAN = "10.20."
CAMERA_SHARE = 0.005


def _templates() -> tuple[list[tuple[float, bytes, str]], list[bytes]]:
    """(weight, frame, kind) of the unrelated mix, and the camera frames."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
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
    return [(w, bytes(p), k) for w, p, k in unrelated], [bytes(p) for p in camera]


def generate(path: Path, packets: int, seed: int) -> int:
    """Write the capture; returns its size in bytes."""
    rnd = random.Random(seed)
    unrelated, camera = _templates()
    weights = [w for w, _, _ in unrelated]
    ts = 1_700_000_000.0
    pack = struct.Struct("<IIII").pack
    with open(path, "wb", buffering=1 << 20) as fh:
        fh.write(PCAP_HEADER)
        for i in range(packets):
            ts += rnd.random() * 0.001
            if rnd.random() < CAMERA_SHARE:
                frame = bytearray(camera[i % len(camera)])
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
                if kind in ("tcp-in", "udp") and len(frame) > 400:
                    del frame[rnd.randrange(400, len(frame)) :]  # vary the sizes
                    total = len(frame) - 14
                    frame[16:18] = total.to_bytes(2, "big")
                    if kind == "udp":
                        frame[38:40] = (total - 20).to_bytes(2, "big")
            sec = int(ts)
            fh.write(pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            fh.write(frame)
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
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="camscan-bench-"))
    path = tmp / "office.pcap"
    t = time.perf_counter()
    size = generate(path, args.packets, args.seed)
    print(f"generated {args.packets:,} packets, {size / 2**20:.0f} MiB in "
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
