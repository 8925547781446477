"""nmap side of the lab benchmark: find or install nmap, run it, parse its XML, score it.

The parsing and scoring functions are pure (XML text + ground truth -> counts) and are tested
on a recorded XML string (tests/test_bench_nmap_parse.py). How a device counts as "named":

* by nmap's service detection or scripts: the true manufacturer, or a brand of it, appears as
  a word in a service's product/version/extrainfo/hostname/ostype/devicetype, or in a script's
  output, for that host. The raw `servicefp` (the bytes nmap could not match) does not count:
  nmap did not name anything there.
* by nmap's MAC vendor (`<address addrtype="mac" vendor=...>`, from its OUI table): counted
  apart, since camscan reads OUIs too and this is not service detection.

broadcast-wsdd-discover prints every device as 239.255.255.250 (its send address): its answers
are attributed to hosts by the IP in their `Address:` (XAddrs) line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree as SafeET

from camscan.errors import ParseError
from camscan.fingerprint.rules import Vendors

SERVICE_FIELDS = ("product", "version", "extrainfo", "hostname", "ostype", "devicetype")
SURVEILLANCE_DEVICETYPES = frozenset({"webcam", "security-misc"})
_XADDR_HOST = re.compile(r"Address:\s*https?://\[?([0-9.]+)")


@dataclass(frozen=True)
class NmapHost:
    """What one nmap run said about one address."""

    ip: str
    up: bool
    mac: str | None = None
    mac_vendor: str | None = None
    texts: tuple[str, ...] = ()  # service fields and script outputs (see module docstring)
    devicetypes: tuple[str, ...] = ()
    open_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class NmapRun:
    hosts: dict[str, NmapHost]
    prescripts: dict[str, str] = field(default_factory=dict)  # script id -> output


@dataclass(frozen=True)
class Score:
    """Counts against the lab's ground truth (one tool, one run)."""

    devices: int  # devices in the lab
    with_maker: int  # devices whose maker the truth names (the denominator of `named`)
    decoys: int
    found: int  # lab devices the tool reported
    named: int  # devices whose true maker the tool named
    named_by_mac_vendor: int = 0  # nmap only: the OUI vendor line names the maker
    decoys_flagged: int = 0  # decoys called surveillance (camscan) / webcam (nmap)


# -- parsing --------------------------------------------------------------------------------


def parse_nmap_xml(text: str | bytes) -> NmapRun:
    """nmap -oX output -> NmapRun. ParseError for anything that is not nmap XML."""
    if isinstance(text, str):
        text = text.encode("utf-8", "replace")
    try:
        root = SafeET.fromstring(text)
    except Exception as exc:  # defusedxml raises several types; all mean "not usable"
        raise ParseError(f"not nmap XML: {type(exc).__name__}") from None
    if root.tag != "nmaprun":
        raise ParseError(f"not nmap XML: root element {root.tag!r}")
    hosts: dict[str, NmapHost] = {}
    for el in root.iter("host"):
        host = _host(el)
        if host is not None:
            hosts[host.ip] = host
    prescripts = {
        str(s.get("id")): str(s.get("output") or "")
        for pre in root.iter("prescript")
        for s in pre.iter("script")
    }
    return NmapRun(hosts, prescripts)


def _host(el: Any) -> NmapHost | None:
    ip = mac = vendor = None
    for addr in el.iter("address"):
        kind = addr.get("addrtype")
        if kind == "ipv4":
            ip = addr.get("addr")
        elif kind == "mac":
            mac = (addr.get("addr") or "").lower() or None
            vendor = addr.get("vendor")
    if not ip:
        return None
    status = el.find("status")
    up = status is None or status.get("state") == "up"
    texts: list[str] = []
    devicetypes: list[str] = []
    open_ports: list[int] = []
    for port in el.iter("port"):
        state = port.find("state")
        if state is not None and state.get("state") == "open":
            portid = port.get("portid") or ""
            if portid.isdigit():
                open_ports.append(int(portid))
        service = port.find("service")
        if service is not None:
            texts += [service.get(f) for f in SERVICE_FIELDS if service.get(f)]
            if service.get("devicetype"):
                devicetypes.append(str(service.get("devicetype")).lower())
    for script in el.iter("script"):
        if script.get("output"):
            texts.append(str(script.get("output")))
    return NmapHost(
        ip=str(ip),
        up=up,
        mac=mac,
        mac_vendor=vendor,
        texts=tuple(texts),
        devicetypes=tuple(devicetypes),
        open_ports=tuple(sorted(open_ports)),
    )


def wsdd_hosts(output: str) -> dict[str, NmapHost]:
    """broadcast-wsdd-discover output -> one NmapHost per device IP named in an XAddr."""
    blocks: dict[str, list[str]] = {}
    for block in re.split(r"(?m)^\s*Message id:", output):
        for ip in dict.fromkeys(_XADDR_HOST.findall(block)):
            blocks.setdefault(ip, []).append(block)
    return {ip: NmapHost(ip=ip, up=True, texts=tuple(b)) for ip, b in blocks.items()}


# -- scoring --------------------------------------------------------------------------------


def maker_aliases(vendors: Vendors) -> dict[str, tuple[str, ...]]:
    """manufacturer -> the words that name it: its canonical name, the first word of a
    multi-word name (Hanwha Vision -> Hanwha), and its brands (LTS, Annke -> Hikvision)."""
    out: dict[str, list[str]] = {m: [m] for m in vendors.manufacturers}
    for m in vendors.manufacturers:
        first = m.split()[0]
        if " " in m and len(first) >= 4:
            out[m].append(first)
    for brand, info in vendors.brands.items():
        if info.manufacturer in out:
            out[info.manufacturer].append(brand)
    return {m: tuple(dict.fromkeys(a)) for m, a in out.items()}


def names_maker(texts: Iterable[str], maker: str, aliases: Mapping[str, Sequence[str]]) -> bool:
    """True when one of the maker's names appears as a word (case-insensitive) in a text."""
    words = aliases.get(maker) or (maker,)
    pattern = re.compile(
        r"(?<![0-9a-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?![0-9a-z])",
        re.IGNORECASE,
    )
    return any(pattern.search(t) for t in texts)


def score_nmap(
    hosts: Mapping[str, NmapHost],
    truth: Mapping[str, Mapping[str, Any]],
    aliases: Mapping[str, Sequence[str]],
) -> Score:
    """Score nmap's hosts against `truth` (ip -> persona truth); other addresses are ignored."""
    found = named = by_mac = flagged = 0
    for ip, t in truth.items():
        host = hosts.get(ip)
        if host is None or not host.up:
            continue
        found += 1
        maker = t.get("manufacturer")
        if maker:
            named += names_maker(host.texts, maker, aliases)
            by_mac += names_maker([host.mac_vendor or ""], maker, aliases)
        if not t.get("is_surveillance"):
            flagged += any(d in SURVEILLANCE_DEVICETYPES for d in host.devicetypes)
    return _score(truth, found, named, by_mac, flagged)


def score_camscan(doc: Mapping[str, Any], truth: Mapping[str, Mapping[str, Any]]) -> Score:
    """Score a camscan device list: named = the reported manufacturer is the true one."""
    devices = {d.get("ip"): d for d in doc.get("devices", []) if isinstance(d, dict)}
    found = named = flagged = 0
    for ip, t in truth.items():
        d = devices.get(ip)
        if d is None:
            continue
        found += 1
        maker = t.get("manufacturer")
        if maker and d.get("manufacturer") == maker:
            named += 1
        if not t.get("is_surveillance") and d.get("is_surveillance"):
            flagged += 1
    return _score(truth, found, named, 0, flagged)


def _score(
    truth: Mapping[str, Mapping[str, Any]], found: int, named: int, by_mac: int, flagged: int
) -> Score:
    return Score(
        devices=len(truth),
        with_maker=sum(1 for t in truth.values() if t.get("manufacturer")),
        decoys=sum(1 for t in truth.values() if not t.get("is_surveillance")),
        found=found,
        named=named,
        named_by_mac_vendor=by_mac,
        decoys_flagged=flagged,
    )


# -- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # the child's user + system CPU time
    sys_seconds: float = 0.0  # of which in the kernel (system calls: sockets, connects)


def measure(argv: Sequence[str], timeout: float) -> Measured:
    """Run argv to completion: wall time and the child's own peak RSS (wait4's rusage).

    `ip netns exec` execs the command in place, so the rusage is the command's own."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise subprocess.TimeoutExpired(list(argv), timeout)
            time.sleep(0.005)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds=seconds,
            peak_rss_mib=usage.ru_maxrss / 1024,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            sys_seconds=usage.ru_stime,
        )


def ensure_nmap() -> tuple[str | None, str]:
    """(path to nmap, how) or (None, why not). Installs Debian's package when missing."""
    found = shutil.which("nmap")
    if found:
        return found, "already installed"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "nmap is not installed and apt-get is not usable here (needs root)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "nmap"]
    for steps in ([install], [["apt-get", "update"], install]):  # a stale package list: update
        for cmd in steps:
            subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)
        found = shutil.which("nmap")
        if found:
            return found, "installed by this script (apt-get install -y nmap)"
    return None, "apt-get install -y nmap failed, also after apt-get update"


def nmap_version(nmap: str) -> str:
    done = subprocess.run([nmap, "--version"], capture_output=True, text=True, check=False)
    first = done.stdout.strip().splitlines()[:1]
    return first[0] if first else "nmap (version unknown)"
