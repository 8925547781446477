"""Routed-lab benchmark: `camscan scan` of sparse ranges behind a router, next to nmap.

The lab (camscan.lab, `Office(..., routed=...)`): the scanner alone in 198.18.0.0/24; the
devices, each alone in a random /24 VLAN, behind a router namespace that answers unreachable
addresses as a real router does (ICMP host unreachable after ARP fails inside a device's VLAN,
net unreachable elsewhere in 198.19.0.0/16; Linux's default ICMP rate limits). Two shapes:

  * sparse /16: 9 devices over 198.19.0.0/16 (65,534 addresses);
  * sparse /20: 4 devices over 198.19.0.0/20 (4,094 addresses).

For each: `camscan scan RANGE` (wall time, peak RSS, found, named, partial, exit status),
then with --nmap, in the same scanner namespace and only against the lab range:
`nmap -sn RANGE` and `nmap -sT -p <camscan's 22 ports> RANGE`. Needs root; run by hand:

    sudo .venv/bin/python bench/bench_routed.py --runs 1 --nmap
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scan import flush_neighbours, neighbour_room  # noqa: E402
from nmap_compare import (  # noqa: E402
    ensure_nmap,
    maker_aliases,
    measure,
    nmap_version,
    parse_nmap_xml,
    score_camscan,
    score_nmap,
)

from camscan.discovery.base import DEFAULT_PORTS  # noqa: E402
from camscan.fingerprint.engine import Engine  # noqa: E402
from camscan.lab.office import Office, routed_personas  # noqa: E402

SHAPES = {"16": ("198.19.0.0/16", 9), "20": ("198.19.0.0/20", 4)}
TIMEOUT = 1800.0


def camscan_run(office: Office, target: str, truth: dict[str, Any], tag: str) -> str:
    flush_neighbours(office)
    out = office.workdir / f"routed-{tag}.json"
    argv = office.camscan_argv(
        ["scan", target, "--interface", office.lab.scanner_if, "-o", str(out), "--quiet"]
    )
    m = measure(argv, TIMEOUT)
    if not out.exists():
        return f"camscan: {m.seconds:.1f} s, FAILED (exit {m.returncode}): {m.stderr[-300:]}"
    doc = json.loads(out.read_text())
    s = score_camscan(doc, truth)
    warnings = doc["scan"].get("warnings", [])
    budget = sum(1 for w in warnings if "budget" in w)
    return (
        f"camscan: {m.seconds:.1f} s, {m.peak_rss_mib:.0f} MiB, exit {m.returncode}, found "
        f"{s.found}/{s.devices}, named {s.named}/{s.with_maker}, partial "
        f"{doc['scan'].get('partial')}, budget warnings {budget}"
    )


def nmap_run(office: Office, nmap: str, args: list[str], truth: dict[str, Any], label: str) -> str:
    flush_neighbours(office)
    argv = office.lab.netns_argv(office.lab.scanner_ns, [nmap, "-n", "-oX", "-", *args])
    try:
        m = measure(argv, TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{label}: more than {TIMEOUT:.0f} s, stopped"
    if m.returncode != 0:
        return f"{label}: {m.seconds:.1f} s, FAILED: {m.stderr.strip()[-200:]}"
    hosts = dict(parse_nmap_xml(m.stdout).hosts)
    hosts.pop(office.lab.scanner_ip, None)
    s = score_nmap(hosts, truth, maker_aliases(Engine.load().vendors))
    up = sum(1 for h in hosts.values() if h.up)
    return (
        f"{label}: {m.seconds:.1f} s, {m.peak_rss_mib:.0f} MiB, hosts up {up}, found "
        f"{s.found}/{s.devices}, named (services) {s.named}/{s.with_maker}"
    )


def bench_shape(key: str, args: argparse.Namespace, nmap: str | None) -> list[str]:
    routed, n = SHAPES[key]
    personas = routed_personas(n, routed, vlan_prefix=24, seed=args.seed)
    truth = {p.ip: p.truth for p in personas}
    lines = [f"== sparse /{key}: {n} devices over {routed} ({', '.join(truth)})"]
    print(lines[0], flush=True)
    notes: list[str] = []
    # The router's ARP for empty addresses fills the kernel's shared neighbour table.
    with neighbour_room(65534, notes), Office(personas, routed=routed) as office:
        for r in range(args.runs):
            lines.append("   " + camscan_run(office, routed, truth, f"{key}-{r}"))
            print(lines[-1], flush=True)
        if nmap:
            ports = ",".join(str(p) for p in DEFAULT_PORTS)
            for label, nargs in (
                ("nmap -sn", ["-sn", routed]),
                (f"nmap -sT -p {len(DEFAULT_PORTS)} ports", ["-sT", "-p", ports, routed]),
            ):
                lines.append("   " + nmap_run(office, nmap, nargs, truth, label))
                print(lines[-1], flush=True)
    lines += [f"   note: {n}" for n in notes]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="16,20", help="which of 16, 20 (comma-separated)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--nmap", action="store_true", help="also run nmap -sn and -sT")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root (network namespaces); run with sudo")
    nmap = None
    if args.nmap:
        nmap, how = ensure_nmap()
        print(f"nmap: {nmap_version(nmap) if nmap else how}", flush=True)
    for key in args.shapes.split(","):
        bench_shape(key.strip(), args, nmap)


if __name__ == "__main__":
    main()
