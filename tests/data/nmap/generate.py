"""Regenerate the nmap XML fixtures in this folder from the emulated lab (needs root and nmap).

Builds a small office (eight personas of camscan/lab/personas/office.yaml) in the lab's network
namespaces and runs nmap ONLY inside the lab's scanner namespace against lab addresses
(198.18.0.0/24, no route out), exactly as bench/nmap_compare.py does:

    sudo .venv/bin/python tests/data/nmap/generate.py

Files written (nmap -oX output, unchanged):
  sn.xml       nmap -sn 198.18.0.0/24                       (ARP ping: addresses, MACs, vendors)
  sv.xml       nmap -sV -p PORTS --script http-title,http-server-header,ssl-cert,rtsp-methods
  a.xml        nmap -A -p PORTS                             (-sV -O -sC --traceroute)
  upnp.xml     nmap -sU -p 1900 --script upnp-info
  wsdd.xml     nmap --script broadcast-wsdd-discover -e IF
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from camscan.lab.office import Office
from camscan.lab.personas import load_personas

HERE = Path(__file__).resolve().parent
PERSONAS = (
    "hik-cam-onvif",
    "lts-cam",
    "dahua-cam",
    "amcrest-cam",
    "axis-cam",
    "hanwha-cam",
    "reolink-cam",
    "nas",
)
SUBNET = "198.18.0.0/24"
PORTS = "80,443,554,8000"


def main() -> int:
    nmap = shutil.which("nmap")
    if not nmap:
        print("nmap is not installed (apt-get install -y nmap)", file=sys.stderr)
        return 2
    personas = [p for p in load_personas() if p.raw.get("name") in PERSONAS]
    ips = [p.ip for p in personas]
    for ip in ips:
        assert ip.startswith("198.18."), ip  # lab addresses only
    with Office(personas, subnet=SUBNET) as office:
        lab = office.lab
        runs = {
            "sn.xml": ["-sn", SUBNET],
            "sv.xml": [
                "-sV", "-p", PORTS,
                "--script", "http-title,http-server-header,ssl-cert,rtsp-methods", *ips,
            ],
            "a.xml": ["-A", "-T4", "-p", PORTS, *ips],
            "upnp.xml": ["-sU", "-p", "1900", "--script", "upnp-info", *ips],
            "wsdd.xml": [
                "--script", "broadcast-wsdd-discover", "--script-args", "timeout=3s",
                "-e", lab.scanner_if,
            ],
        }  # fmt: skip
        for name, args in runs.items():
            argv = lab.netns_argv(lab.scanner_ns, [nmap, "-n", "-oX", "-", *args])
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                print(f"{name}: nmap exited {done.returncode}: {done.stderr[-500:]}")
                return 1
            (HERE / name).write_text(done.stdout, encoding="utf-8")
            print(f"wrote {name} ({len(done.stdout):,} bytes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
