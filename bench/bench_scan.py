"""Lab benchmark: `camscan scan` next to nmap on emulated offices of 50, 250 and 1,000 devices.

For each size it builds an office (camscan.lab: mixed personas, a fifth of them non-camera
decoys, spread over a /24, a /22 and a /21), starts the device simulator, and in the same
scanner namespace measures, each run from a cold neighbour cache:

  * `camscan scan SUBNET` with every default module: wall time, peak RSS, devices found,
    devices whose manufacturer is right, decoys called surveillance (median of --runs);
  * with --nmap: `nmap -sn SUBNET`, `nmap -sT` on camscan's ports over SUBNET, `nmap --script
    broadcast-wsdd-discover`, and `nmap -sV`
    on camscan's camera ports over a seeded sample of --sv-sample devices (the whole lab when
    smaller), next to `camscan scan` over the same sample; scored by bench/nmap_compare.py;
  * the fingerprint engine (bench/bench_engine.py) and the passive path
    (bench/bench_passive.py), run as they are.

Writes bench/RESULTS.md (or --results). Needs root (network namespaces); run by hand:

    sudo .venv/bin/python bench/bench_scan.py --sizes 50,250,1000 --runs 3 --nmap

The kernel's neighbour table is shared by every namespace and holds 1,024 entries by default;
for a subnet with more addresses the script raises net.ipv4.neigh.default.gc_thresh1/2/3 for
the duration of that size and restores the old values afterwards (and says so).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmap_compare import (
    Measured,
    Score,
    ensure_nmap,
    maker_aliases,
    measure,
    nmap_version,
    parse_nmap_xml,
    score_camscan,
    score_nmap,
    wsdd_hosts,
)

from camscan.discovery.base import DEFAULT_PORTS
from camscan.fingerprint.engine import Engine
from camscan.lab.office import Office
from camscan.lab.personas import Persona
from camscan.lab.personas.generate import generate_office

BENCH = Path(__file__).resolve().parent
SUBNETS = {50: "198.18.0.0/24", 250: "198.18.0.0/22", 1000: "198.18.0.0/21"}
GOALS = {50: 3.0, 250: 10.0, 1000: 30.0}  # seconds (the goals, not asserted)
MEMORY_GOAL_MIB = 300.0
NEIGH = "/proc/sys/net/ipv4/neigh/default/gc_thresh{}"
SCAN_TIMEOUT = 600.0
NMAP_TIMEOUT = 3 * 3600.0


@dataclass
class Run:
    """One measured run of one tool."""

    seconds: float
    rss_mib: float
    score: Score | None = None
    warnings: int = 0
    error: str | None = None


@dataclass
class SizeResult:
    n: int
    subnet: str
    addresses: int
    build_s: float = 0.0
    ready_s: float = 0.0
    teardown_s: float = 0.0
    camscan: list[Run] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    camscan_sample: list[Run] = field(default_factory=list)
    nmap: dict[str, list[Run]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- one size -----------------------------------------------------------------------------


def subnet_for(n: int) -> str:
    if n in SUBNETS:
        return SUBNETS[n]
    for prefix in range(24, 15, -1):
        if n <= (2 ** (32 - prefix) - 2) // 2:
            return f"198.18.0.0/{prefix}"
    raise SystemExit(f"{n} devices is more than this benchmark plans for")


@contextlib.contextmanager
def neighbour_room(addresses: int, notes: list[str]) -> Iterator[None]:
    """Raise the shared neighbour-table limits when the subnet needs it; restore on exit."""
    try:
        old = [int(Path(NEIGH.format(i)).read_text()) for i in (1, 2, 3)]
    except (OSError, ValueError):
        yield
        return
    wanted = [old[0], max(old[1], 2 * addresses), max(old[2], 4 * addresses)]
    if old[2] >= addresses + 64 or os.geteuid() != 0:
        yield
        return
    for i, value in zip((1, 2, 3), wanted, strict=True):
        Path(NEIGH.format(i)).write_text(f"{value}\n")
    notes.append(
        f"net.ipv4.neigh.default.gc_thresh2/3 raised from {old[1]}/{old[2]} to "
        f"{wanted[1]}/{wanted[2]} for this size (the table is shared by all namespaces), "
        "restored afterwards"
    )
    try:
        yield
    finally:
        for i, value in zip((1, 2, 3), old, strict=True):
            Path(NEIGH.format(i)).write_text(f"{value}\n")


def cpu_busy(interval: float = 1.0) -> float:
    """Share of the machine's CPU time that was busy over `interval` seconds (0..1)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(interval)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(notes: list[str], limit: float = 300.0) -> None:
    """Other work on this 2-core machine (another lab, a test run) skews every figure: wait
    (bounded) until the CPU is idle and no other lab namespace exists; note it otherwise."""
    deadline = time.monotonic() + limit
    waited = False
    while True:
        busy = cpu_busy()
        others = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if busy < 0.15 and not others.strip():
            if waited:
                notes.append("waited for other work on the machine to finish before this size")
            return
        if time.monotonic() > deadline:
            notes.append(
                f"the machine was not idle when this size started ({busy:.0%} CPU busy, "
                f"{len(others.splitlines())} other network namespace(s)): figures may be high"
            )
            return
        waited = True
        time.sleep(5)


def bench_size(n: int, args: argparse.Namespace, nmap: str | None) -> SizeResult:
    subnet = subnet_for(n)
    personas = generate_office(n, subnet, seed=args.seed)
    truth = {p.ip: p.truth for p in personas}
    addresses = 2 ** (32 - int(subnet.split("/")[1])) - 2
    res = SizeResult(n, subnet, addresses)
    print(f"== {n} devices over {subnet} ({addresses} addresses)", flush=True)
    office = Office(personas, subnet=subnet)
    wait_for_quiet(res.notes)
    with neighbour_room(addresses, res.notes):
        try:
            office.start()
            res.build_s, res.ready_s = office.build_seconds, office.ready_seconds
            print(f"   lab built in {res.build_s:.2f} s, simulator ready in {res.ready_s:.2f} s")
            for r in range(args.runs):
                run = camscan_run(office, [subnet], truth, f"full-{r}")
                res.camscan.append(run)
                print(f"   camscan run {r + 1}: {fmt_run(run)}", flush=True)
            if nmap:
                nmap_runs(office, nmap, personas, truth, args, res)
        finally:
            office.stop()
            res.teardown_s = office.lab.teardown_seconds
    return res


def flush_neighbours(office: Office) -> None:
    """Every run starts as a first scan would: the scanner knows no MAC yet."""
    office.lab.run(office.lab.scanner_ns, ["ip", "neigh", "flush", "all"], capture_output=True)


def camscan_run(
    office: Office, targets: Sequence[str], truth: dict[str, dict[str, Any]], tag: str
) -> Run:
    flush_neighbours(office)
    out = office.workdir / f"camscan-{tag}.json"
    argv = office.camscan_argv(
        ["scan", *targets, "--interface", office.lab.scanner_if, "-o", str(out), "--quiet"]
    )
    m = measure(argv, SCAN_TIMEOUT)
    if m.returncode != 0:
        tail = (m.stderr.strip().splitlines() or [f"exit {m.returncode}"])[-1]
        return Run(m.seconds, m.peak_rss_mib, error=tail)
    doc = json.loads(out.read_text())
    warnings = len(doc.get("scan", {}).get("warnings", []))
    return Run(m.seconds, m.peak_rss_mib, score_camscan(doc, truth), warnings)


def nmap_runs(
    office: Office,
    nmap: str,
    personas: list[Persona],
    truth: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    res: SizeResult,
) -> None:
    aliases = maker_aliases(Engine.load().vendors)
    ns = office.lab.scanner_ns
    scanner_ip = office.lab.scanner_ip

    def run(mode: str, nmap_args: list[str], scope: dict[str, dict[str, Any]]) -> Run:
        flush_neighbours(office)
        m: Measured = measure(
            office.lab.netns_argv(ns, [nmap, "-n", "-oX", "-", *nmap_args]), NMAP_TIMEOUT
        )
        if m.returncode != 0:
            tail = (m.stderr.strip().splitlines() or [f"exit {m.returncode}"])[-1]
            return Run(m.seconds, m.peak_rss_mib, error=tail)
        parsed = parse_nmap_xml(m.stdout)
        hosts = dict(parsed.hosts)
        if mode == "wsdd":
            hosts = wsdd_hosts(parsed.prescripts.get("broadcast-wsdd-discover", ""))
        hosts.pop(scanner_ip, None)
        return Run(m.seconds, m.peak_rss_mib, score_nmap(hosts, scope, aliases))

    ports = ",".join(str(p) for p in DEFAULT_PORTS)
    for mode, nmap_args in (
        ("-sn", ["-sn", res.subnet]),
        ("-sT", ["-sT", "-p", ports, res.subnet]),  # connects to the ports camscan sweeps
        ("wsdd", ["--script", "broadcast-wsdd-discover"]),
    ):
        runs = res.nmap.setdefault(mode, [])
        for r in range(args.runs):
            runs.append(run(mode, nmap_args, truth))
            print(f"   nmap {mode} run {r + 1}: {fmt_run(runs[-1])}", flush=True)

    rng = random.Random(args.seed)
    ips = [p.ip for p in personas]
    res.sample = sorted(rng.sample(ips, min(args.sv_sample, len(ips))), key=_ip_key)
    sample_truth = {ip: truth[ip] for ip in res.sample}
    runs = res.nmap.setdefault("-sV", [])
    for r in range(args.sv_runs):
        runs.append(run("-sV", ["-sV", "-p", ports, *res.sample], sample_truth))
        print(f"   nmap -sV run {r + 1} ({len(res.sample)} devices): {fmt_run(runs[-1])}")
    if len(res.sample) == len(ips):
        res.camscan_sample = res.camscan  # the sample is the whole lab
        return
    for r in range(args.runs):
        run_ = camscan_run(office, res.sample, sample_truth, f"sample-{r}")
        res.camscan_sample.append(run_)
        print(f"   camscan on the sample, run {r + 1}: {fmt_run(run_)}", flush=True)


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split("."))


# -- the other benchmarks -------------------------------------------------------------------


def other_bench(script: str, extra: Sequence[str]) -> list[str]:
    print(f"== {script} {' '.join(extra)}", flush=True)
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0:
        lines.append(f"(failed: {(done.stderr.strip().splitlines() or ['?'])[-1]})")
    for line in lines:
        print(f"   {line}")
    return lines


# -- reporting ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ok_runs(runs: Sequence[Run]) -> list[Run]:
    return [r for r in runs if r.error is None and r.score is not None]


def fmt_run(run: Run) -> str:
    if run.error:
        return f"{run.seconds:.2f} s, FAILED: {run.error}"
    s = run.score
    assert s is not None
    return (
        f"{run.seconds:.2f} s, {run.rss_mib:.0f} MiB, found {s.found}/{s.devices}, "
        f"named {s.named}/{s.with_maker}, MAC vendor {s.named_by_mac_vendor}, "
        f"decoys flagged {s.decoys_flagged}/{s.decoys}"
    )


def spread(runs: Sequence[Run]) -> str:
    secs = [r.seconds for r in runs]
    if len(secs) < 2:
        return f"{median(secs):.2f}"
    return f"{median(secs):.2f} ({min(secs):.2f}-{max(secs):.2f})"


def med_score(runs: Sequence[Run], attr: str) -> str:
    values = [getattr(r.score, attr) for r in runs if r.score is not None]
    return f"{median(values):g}" if values else "-"


def machine() -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 2**20:.1f} GiB"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- CPU: {os.cpu_count()} × {cpu} (nproc {len(os.sched_getaffinity(0))})",
        f"- RAM: {mem}",
        f"- Kernel: Linux {platform.release()}; Python {platform.python_version()}",
        f"- Load average when the benchmark started: {load}",
    ]


def render(
    results: list[SizeResult],
    args: argparse.Namespace,
    nmap_note: str,
    engine_lines: list[str],
    passive_lines: list[str],
    started: dt.datetime,
    machine_lines: list[str],
) -> str:
    out = [
        "# camscan benchmark results",
        "",
        f"Generated by `{' '.join(['python', 'bench/bench_scan.py', *sys.argv[1:]])}` on "
        f"{started:%Y-%m-%d %H:%M} UTC (one run of the script; every figure below comes from "
        "it). Each figure is the median of the runs shown, with (min-max) where there were "
        "several.",
        "",
        "## Machine",
        "",
        *machine_lines,
        f"- nmap: {nmap_note}",
        "",
        "## The labs",
        "",
        "Personas from `generate_office(n, subnet, seed)`: every office persona round-robin, "
        "a fifth of the devices non-camera decoys (printer, NAS, router, nginx, PC). "
        "Device simulator: one process (`camscan.lab.devsim`) in the devices namespace.",
        "",
        "| devices | subnet (addresses) | lab build | simulator ready | teardown |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in results:
        out.append(
            f"| {r.n} | {r.subnet} ({r.addresses}) | {r.build_s:.2f} s | {r.ready_s:.2f} s "
            f"| {r.teardown_s:.2f} s |"
        )
    out += [
        "",
        "## camscan scan (all default modules)",
        "",
        f"`camscan scan SUBNET --interface eth0 -o devices.json --quiet` inside the scanner "
        f"namespace; wall time includes Python start-up; peak RSS is the process's own "
        f"(wait4). {args.runs} run(s) per size, each after flushing the scanner's neighbour "
        "cache. *Named* = the reported manufacturer is the true one (devices whose maker the "
        "ground truth names); *decoys flagged* = decoys reported as surveillance.",
        "",
        "| devices | wall s | goal | peak RSS MiB | found | named correctly | decoys flagged "
        "| warnings |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        runs = ok_runs(r.camscan)
        if not runs:
            out.append(f"| {r.n} | failed: {r.camscan[0].error if r.camscan else '-'} |||||||")
            continue
        goal = GOALS.get(r.n)
        wall = median([x.seconds for x in runs])
        rss = median([x.rss_mib for x in runs])
        goal_txt = "-" if goal is None else f"{goal:g} s {'met' if wall <= goal else 'MISSED'}"
        s = runs[0].score
        assert s is not None
        mem = f"{rss:.0f}" + (
            f" ({'met' if rss <= MEMORY_GOAL_MIB else 'MISSED'} ≤ 300)" if r.n >= 1000 else ""
        )
        out.append(
            f"| {r.n} | {spread(runs)} | {goal_txt} | {mem} | "
            f"{med_score(runs, 'found')}/{s.devices} | "
            f"{med_score(runs, 'named')}/{s.with_maker} | "
            f"{med_score(runs, 'decoys_flagged')}/{s.decoys} | "
            f"{median([x.warnings for x in runs]):g} |"
        )
    if any(r.nmap for r in results):
        out += nmap_sections(results, args)
    notes = [f"- {r.n} devices: {note}" for r in results for note in r.notes]
    if notes:
        out += ["", "## Machine settings and conditions", "", *notes]
    out += ["", "## Fingerprint engine (bench/bench_engine.py)", "", "```", *engine_lines, "```"]
    out += ["", "## Passive path (bench/bench_passive.py)", "", "```", *passive_lines, "```", ""]
    return "\n".join(out)


def nmap_sections(results: list[SizeResult], args: argparse.Namespace) -> list[str]:
    out = [
        "",
        "## nmap in the same namespace",
        "",
        "`nmap -n -oX -` plus: `-sn SUBNET` (ARP ping; host discovery only), `-sT -p PORTS "
        "SUBNET` (TCP connect to camscan's ports on the whole subnet), "
        "`--script broadcast-wsdd-discover` (WS-Discovery; devices attributed by their XAddr "
        f"IP), and `-sV -p {','.join(str(p) for p in DEFAULT_PORTS)}` (camscan's own port "
        f"list) over a seeded sample of {args.sv_sample} devices (the whole lab when smaller), "
        f"{args.sv_runs} run(s): -sV is too slow to repeat at every size. *Named (services)*: "
        "the true maker or one of its brands appears as a word in a service's product/version/"
        "extrainfo/hostname/ostype/devicetype or a script's output for that host. *MAC vendor*: "
        "nmap's OUI vendor line names the maker (counted apart: camscan reads OUIs too). "
        "*Decoys flagged*: decoys with an nmap devicetype of webcam/security-misc.",
        "",
        "| devices | nmap mode | targets | wall s | peak RSS MiB | found | named (services) "
        "| named (MAC vendor) | decoys flagged |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for mode, runs_all in r.nmap.items():
            runs = ok_runs(runs_all)
            targets = len(r.sample) if mode == "-sV" else r.n
            if not runs:
                err = runs_all[0].error if runs_all else "-"
                out.append(f"| {r.n} | {mode} | {targets} | failed: {err} ||||||")
                continue
            s = runs[0].score
            assert s is not None
            out.append(
                f"| {r.n} | {mode} | {targets} | {spread(runs)} | "
                f"{median([x.rss_mib for x in runs]):.0f} | "
                f"{med_score(runs, 'found')}/{s.devices} | "
                f"{med_score(runs, 'named')}/{s.with_maker} | "
                f"{med_score(runs, 'named_by_mac_vendor')}/{s.with_maker} | "
                f"{med_score(runs, 'decoys_flagged')}/{s.decoys} |"
            )
    out += [
        "",
        "### camscan next to nmap -sV on the same devices",
        "",
        "Both tools over the same sampled addresses (`camscan scan IP IP ...`), same ports. "
        "*× faster* = nmap -sV wall time / camscan wall time.",
        "",
        "| devices in lab | sample | camscan s | nmap -sV s | × faster | camscan named "
        "| nmap -sV named (services) | nmap named (MAC vendor) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cs, sv = ok_runs(r.camscan_sample), ok_runs(r.nmap.get("-sV", []))
        if not cs or not sv:
            continue
        c_s, n_s = median([x.seconds for x in cs]), median([x.seconds for x in sv])
        s = sv[0].score
        assert s is not None
        out.append(
            f"| {r.n} | {len(r.sample)} | {c_s:.2f} | {n_s:.1f} | {n_s / c_s:.0f}× | "
            f"{med_score(cs, 'named')}/{s.with_maker} | {med_score(sv, 'named')}/{s.with_maker} "
            f"| {med_score(sv, 'named_by_mac_vendor')}/{s.with_maker} |"
        )
    return out


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,250,1000", help="device counts, comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median kept)")
    ap.add_argument("--nmap", action="store_true", help="also run nmap (installed if missing)")
    ap.add_argument("--sv-sample", type=int, default=50, help="devices given to nmap -sV")
    ap.add_argument("--sv-runs", type=int, default=1, help="runs of nmap -sV per size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--passive-packets", type=int, default=2_000_000)
    ap.add_argument("--skip-other", action="store_true", help="skip the engine/passive benches")
    ap.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root (network namespaces); run with sudo")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = dt.datetime.now(dt.UTC)
    machine_lines = machine()
    nmap: str | None = None
    nmap_note = "not run (no --nmap)"
    if args.nmap:
        nmap, how = ensure_nmap()
        nmap_note = f"{nmap_version(nmap)}, {how}" if nmap else f"skipped: {how}"
        print(f"nmap: {nmap_note}", flush=True)
    t0 = time.monotonic()
    results = [bench_size(n, args, nmap) for n in sizes]
    engine_lines: list[str] = ["(skipped)"]
    passive_lines: list[str] = ["(skipped)"]
    if not args.skip_other:
        engine_lines = other_bench("bench_engine.py", [])
        passive_lines = other_bench("bench_passive.py", ["--packets", str(args.passive_packets)])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    machine_lines.append(f"- Load average when it ended: {load}")
    text = render(results, args, nmap_note, engine_lines, passive_lines, started, machine_lines)
    args.results.write_text(text)
    print(f"wrote {args.results} ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
