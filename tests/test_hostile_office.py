"""The office with hostile and broken devices next to the good ones (personas/hostile.yaml):
XML bombs and external entities, endless and crawling HTTP, control characters, broken TLS,
a silent RTSP port, a host that resets everything, garbage on every port, a device claiming
every vendor, liars stating another device's address and MAC, a flood of WS-Discovery
endpoints.

One real `camscan scan` over it (and one over the plain office, for comparison), measured:
the scan ends within its budgets, finds every good device exactly as in the plain office,
lists every hostile device once with a note of what was wrong, keeps its peak memory close to
the plain scan's, and writes nothing a terminal would act on."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import test_e2e_office as e2e
from conftest import assert_schema_valid

from camscan.lab.personas import HOSTILE_MODES, HOSTILE_PERSONAS, Persona, load_personas

COMPARED = ("mac", "manufacturer", "brand", "model", "firmware", "device_type",
            "is_surveillance", "restricted_by")  # fmt: skip
# Default budgets of `camscan scan`: broadcast modules 30 s, then at most one host budget.
SCAN_BUDGET = 30.0 + 15.0
RSS_LIMIT_MIB = 256.0
RSS_OVER_PLAIN_MIB = 64.0
# Raw bytes a terminal acts on: C0 controls except tab/LF/CR, DEL, and the 8-bit CSI.
_TERMINAL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x9b]")
_C1_CHARS = re.compile("[\x80-\x9f]")

# What each hostile device's notes must say (one regex per thing that was wrong).
EXPECTED_NOTES: dict[str, list[str]] = {
    "xml-bomb": [
        r"^unreadable WS-Discovery answer \(.*DTDForbidden",
        r"^unreadable SADP answer \(.*DTDForbidden",
        r"^UPnP description refused \(.*DTDForbidden",
    ],
    "xml-xxe": [
        r"^unreadable WS-Discovery answer \(.*DTDForbidden",
        r"^unreadable SADP answer \(.*DTDForbidden",
        r"^UPnP description refused \(.*DTDForbidden",
    ],
    "http-huge": [
        r"^HTTP port 80: body cut at the \d+-byte cap$",
        r"^HTTP port 8080: body cut at the \d+-byte cap$",
    ],
    "http-slowloris": [r"^HTTP port 80: open, but no HTTP answer \(http: timed out\)$"],
    "http-chunked": [r"^HTTP port 80: body cut at the \d+-byte cap$"],
    "http-controls": [
        r"^HTTP port 80: control characters or invalid UTF-8 in headers",
        r"^HTTP port 80: control characters or invalid UTF-8 in the title",
        r"^RTSP port 554: control characters in headers",
    ],
    "tls-expired": [r"^HTTP port 443: TLS certificate expired on \d{4}-\d\d-\d\d$"],
    "tls-garbage": [r"^HTTP port 443: open, but no HTTP answer \(https: TLS handshake failed"],
    "rtsp-silent": [r"^RTSP port 554: OPTIONS not answered within \d+s$"],
    "reset-all": [
        r"^HTTP port 80: open, but no HTTP answer \(http: connection reset",
        r"^HTTP port 443: open, but no HTTP answer \(https: connection reset",
        r"^RTSP port 554: OPTIONS failed \(Connection reset",
    ],
    "garbage": [
        r"^unreadable WS-Discovery answer",
        r"^unreadable SADP answer",
        r"^unreadable Dahua discovery answer$",
        r"^unreadable SSDP answer",
        r"^RTSP port 554: the answer to OPTIONS is not RTSP$",
        r"^HTTP port 80: open, but no HTTP answer",
        r"^port 21: the greeting is binary, not text$",
    ],
    "every-vendor": [r"^conflicting evidence also names (Dahua|Hikvision)"],
    "liar-hik": [
        r"^sadp answer states MAC 28:57:be:3a:10:10, the MAC of 198\.18\.0\.10; "
        r"this address has 02:48:00:00:01:11$",
        r"^SADP answer states address 198\.18\.0\.10$",
    ],
    "liar-dahua": [
        r"^dahua_discovery answer states MAC 3c:ef:8c:1b:19:19, the MAC of 198\.18\.0\.19",
        r"^Dahua discovery answer states address 198\.18\.0\.19$",
    ],
    "wsd-flood": [r"^WS-Discovery: \d{3,}\+? endpoints from one host, kept 4$"],
}


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: bytes
    stderr: bytes
    wall: float  # seconds
    peak_rss_mib: float  # the scanner process's peak resident set
    doc: dict[str, Any]
    json_path: Path


# A child's ru_maxrss counts the pages it shared with its parent between fork and exec, and
# pytest is big by now: a small launcher forks the command and reports the grandchild's own.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
os._exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(
    argv: Sequence[str], timeout: float = 180.0
) -> tuple[int, bytes, bytes, float, float]:
    """Run argv; (exit status, stdout, stderr, wall seconds, peak RSS MiB of that process).
    `ip netns exec` execs the command, so the launched process's rusage is the scanner's."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, rss.name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        peak_kib = int(rss.read() or 0)
        return proc.returncode, out.read(), err.read(), wall, peak_kib / 1024


def measured_scan(office: Any) -> Measured:
    json_path = office.workdir / f"measured-{time.monotonic_ns()}.json"
    argv = office.camscan_argv(
        ["scan", office.subnet, "--interface", office.lab.scanner_if, "-o", str(json_path)]
    )
    code, out, err, wall, rss = run_measured(argv)
    assert code == 0, err.decode(errors="replace")[-2000:]
    import json

    doc = json.loads(json_path.read_text(encoding="utf-8"))
    return Measured(code, out, err, wall, rss, doc, json_path)


def good_personas() -> list[Persona]:
    return load_personas()


def hostile_personas() -> list[Persona]:
    return load_personas(HOSTILE_PERSONAS)


@pytest.fixture(scope="session")
def plain_run(office: Any) -> Measured:
    return measured_scan(office)


@pytest.fixture(scope="session")
def hostile_run(hostile_office: Any, plain_run: Measured) -> Measured:
    run = measured_scan(hostile_office)
    sys.stdout.write(
        f"\nscan wall time / peak RSS: plain office {plain_run.wall:.2f}s "
        f"{plain_run.peak_rss_mib:.1f} MiB ({len(plain_run.doc['devices'])} devices); "
        f"with hostile devices {run.wall:.2f}s {run.peak_rss_mib:.1f} MiB "
        f"({len(run.doc['devices'])} devices)\n"
    )
    return run


def by_ip(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return e2e.by_ip(doc)


# -- the good devices: as if the hostile ones were not there ---------------------------------


@pytest.mark.lab
@pytest.mark.parametrize("persona", good_personas(), ids=lambda p: p.name)
def test_good_devices_are_found_and_named(hostile_run: Measured, persona: Persona) -> None:
    e2e.test_each_persona_is_found_and_named(hostile_run.doc, persona)


@pytest.mark.lab
def test_good_devices_are_the_same_as_in_the_plain_office(
    plain_run: Measured, hostile_run: Measured
) -> None:
    plain, hostile = by_ip(plain_run.doc), by_ip(hostile_run.doc)
    for p in good_personas():
        before = {k: plain[p.ip][k] for k in COMPARED}
        after = {k: hostile[p.ip][k] for k in COMPARED}
        assert after == before, p.name
        # nothing a liar said ended up on the device it impersonated
        assert not [e for e in hostile[p.ip]["evidence"] if "LIAR" in e["value"]], p.name


@pytest.mark.lab
def test_decoys_stay_decoys(hostile_run: Measured) -> None:
    e2e.test_decoys_are_neither_surveillance_nor_restricted(hostile_run.doc)


# -- the hostile devices: listed once each, honestly -----------------------------------------


@pytest.mark.lab
def test_every_device_is_listed_once(hostile_run: Measured) -> None:
    ips = [d["ip"] for d in hostile_run.doc["devices"]]
    assert len(ips) == len(set(ips))
    assert set(ips) == {p.ip for p in good_personas() + hostile_personas()}


@pytest.mark.lab
@pytest.mark.parametrize("persona", hostile_personas(), ids=lambda p: p.name)
def test_hostile_device_is_listed_with_what_was_wrong(
    hostile_run: Measured, persona: Persona
) -> None:
    device = by_ip(hostile_run.doc)[persona.ip]
    assert device["mac"] == persona.mac
    notes = device["notes"]
    for pattern in EXPECTED_NOTES[persona.name]:
        assert any(re.search(pattern, n) for n in notes), (pattern, notes)
    assert all(n.isprintable() for n in notes)


def test_every_hostile_persona_has_expectations_and_every_mode_is_played() -> None:
    assert {p.name for p in hostile_personas()} == set(EXPECTED_NOTES)
    assert {m for p in hostile_personas() for m in p.hostile_modes} == set(HOSTILE_MODES)


@pytest.mark.lab
def test_no_write_login_or_external_entity_fetch(
    hostile_office: Any, hostile_run: Measured
) -> None:
    bad = [a for a in hostile_office.audit() if a.get("kind") != "onvif_authenticated_read"]
    assert bad == [], "\n".join(map(str, bad))


# -- bounded: time, memory, terminal ---------------------------------------------------------


@pytest.mark.lab
def test_scan_stays_within_its_budgets(hostile_run: Measured) -> None:
    warnings = hostile_run.doc["scan"]["warnings"]
    assert not [w for w in warnings if "budget" in w], warnings
    assert not hostile_run.doc["scan"]["partial"]
    assert hostile_run.wall < SCAN_BUDGET


@pytest.mark.lab
def test_peak_memory_stays_close_to_the_plain_scan(
    plain_run: Measured, hostile_run: Measured
) -> None:
    assert hostile_run.peak_rss_mib < RSS_LIMIT_MIB
    assert hostile_run.peak_rss_mib < plain_run.peak_rss_mib + RSS_OVER_PLAIN_MIB


def assert_terminal_safe(data: bytes, what: str) -> None:
    bad = _TERMINAL_BYTES.findall(data)
    assert not bad, f"{what}: raw control bytes {sorted(set(bad))[:10]}"
    text = data.decode("utf-8", errors="replace")
    assert not _C1_CHARS.search(text), f"{what}: C1 control characters"


@pytest.mark.lab
def test_scan_table_and_messages_are_terminal_safe(hostile_run: Measured) -> None:
    assert b"Hikvision" in hostile_run.stdout  # the table was printed
    assert_terminal_safe(hostile_run.stdout, "scan stdout")
    assert_terminal_safe(hostile_run.stderr, "scan stderr")


@pytest.mark.lab
@pytest.mark.parametrize("fmt", ["table", "md", "csv"])
def test_reports_of_the_hostile_result_are_terminal_safe(hostile_run: Measured, fmt: str) -> None:
    # A report reads a file and sends nothing: it runs outside the lab.
    proc = subprocess.run(
        [sys.executable, "-m", "camscan", "report", str(hostile_run.json_path), "--format", fmt],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"198.18.0.110" in proc.stdout
    assert_terminal_safe(proc.stdout, f"report {fmt} stdout")
    assert_terminal_safe(proc.stderr, f"report {fmt} stderr")


@pytest.mark.lab
def test_schema_valid(hostile_run: Measured) -> None:
    assert_schema_valid(hostile_run.doc)


# -- the hostile modes themselves (no lab: pure functions and the simulator on 127.0.0.0/8) --


def hostile(name: str) -> Persona:
    return next(p for p in hostile_personas() if p.name == name)


def test_poisoned_xml_is_refused_by_every_camscan_xml_parser() -> None:
    from camscan.discovery import sadp as sadp_parser
    from camscan.discovery import ssdp as ssdp_parser
    from camscan.discovery import wsd as wsd_parser
    from camscan.errors import ParseError
    from camscan.lab.devsim import sadp, ssdp, wsd
    from camscan.lab.devsim.hostile import poisoned

    for name in ("xml-bomb", "xml-xxe"):
        p = hostile(name)
        docs = [
            (wsd_parser.parse_message,
             poisoned(p, wsd.build_probe_matches(p, "urn:uuid:1"), "SOAP-ENV:Envelope", "Scopes")),
            (sadp_parser.parse,
             poisoned(p, sadp.build_probe_match(p, "U"), "ProbeMatch", "DeviceDescription")),
            (ssdp_parser.parse_description,
             poisoned(p, ssdp.description_xml(p), "root", "friendlyName")),
        ]  # fmt: skip
        for parse, doc in docs:
            assert b"<!DOCTYPE" in doc and (b"&lol9;" in doc or b"&xxe;" in doc)
            with pytest.raises(ParseError, match="DTDForbidden"):
                parse(doc)


def test_liars_state_the_other_device_and_floods_are_distinct() -> None:
    from camscan.discovery import dahua as dahua_parser
    from camscan.discovery import sadp as sadp_parser
    from camscan.lab.devsim import dahua, sadp, wsd
    from camscan.lab.devsim.hostile import FLOOD, flood_replies

    reply = sadp_parser.parse(sadp.build_probe_match(hostile("liar-hik"), "U"))
    assert (reply.ipv4, reply.mac) == ("198.18.0.10", "28:57:be:3a:10:10")
    answer = dahua_parser.parse(dahua.dhip_reply(hostile("liar-dahua")))
    assert (answer.ipv4, answer.mac) == ("198.18.0.19", "3c:ef:8c:1b:19:19")
    p = hostile("wsd-flood")
    replies = flood_replies(p, lambda e, r: wsd.build_probe_matches(p, r, e), "urn:uuid:2")
    assert len(set(replies)) == len(replies) == FLOOD


async def test_an_external_entity_fetch_is_audited(tmp_path: Path) -> None:
    """The detector behind test_no_write_login_or_external_entity_fetch: a GET of the URL an
    external entity names is recorded."""
    import asyncio

    from camscan.lab.devsim import DevSim, DevSimOptions, read_audit
    from camscan.lab.personas import personas_from_data

    spec = dict(hostile("xml-xxe").raw, ip="127.78.0.101")
    sim = DevSim(
        personas_from_data([spec], "xxe-on-loopback"),
        DevSimOptions(audit_log=tmp_path / "audit.jsonl", loopback=True),
    )
    await sim.start()
    try:
        reader, writer = await asyncio.open_connection("127.78.0.101", 80)
        writer.write(b"GET /xxe-canary HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 404")
        writer.close()
    finally:
        await sim.close()
    assert [a["kind"] for a in read_audit(tmp_path / "audit.jsonl")] == ["xxe_fetch"]


def test_a_payload_mac_that_contradicts_the_link_layer_stays_with_its_sender() -> None:
    from camscan.fingerprint.engine import Engine
    from camscan.fusion import fuse
    from camscan.model import Evidence

    def ev(module: str, protocol: str, value: str, ip: str, mac: str | None = None) -> Evidence:
        return Evidence(module=module, protocol=protocol, value=value, ip=ip, mac=mac)

    hik, liar = ("198.18.0.10", "28:57:be:3a:10:10"), ("198.18.0.111", "02:48:00:00:01:11")
    items = [
        ev("arp", "mac", hik[1], *hik),
        ev("arp", "mac", liar[1], *liar),
        ev("http", "http_server", "App-webs/", hik[0]),
        ev("sadp", "sadp", "DeviceDescription=DS-LIAR\nMAC=28-57-be-3a-10-10", liar[0], hik[1]),
        ev("http", "http_server", "lighttpd", liar[0]),
    ]
    devices = {d.ip: d for d in fuse(items, Engine.load())}
    assert set(devices) == {hik[0], liar[0]}
    assert [e.value for e, _ in devices[hik[0]].evidence] == [hik[1], "App-webs/"]
    assert devices[liar[0]].mac == liar[1] and len(devices[liar[0]].evidence) == 3
    assert devices[liar[0]].notes[0] == (
        "sadp answer states MAC 28:57:be:3a:10:10, the MAC of 198.18.0.10; "
        "this address has 02:48:00:00:01:11"
    )
    assert devices[hik[0]].notes == []


def test_notes_reach_their_device_or_make_a_bare_one() -> None:
    from camscan.fusion import attach_notes
    from camscan.model import Device

    devices = [Device(ip="198.18.0.9"), Device(ip="198.18.0.20", notes=["old"])]
    notes = {"198.18.0.20": ["old", "new"], "198.18.0.5": ["garbage"], "10.9.9.9": ["x"]}
    added = attach_notes(devices, notes, lambda ip: ip.startswith("198.18."))
    assert [d.ip for d in added] == ["198.18.0.5"]
    assert [(d.ip, d.notes) for d in devices] == [
        ("198.18.0.5", ["garbage"]),
        ("198.18.0.9", []),
        ("198.18.0.20", ["old", "new"]),
    ]


def test_scan_context_notes_are_capped_and_printable() -> None:
    from ipaddress import IPv4Network

    from camscan.discovery.base import ScanContext

    ctx = ScanContext(targets=[IPv4Network("198.18.0.0/24")], interface=None, local_ip=None)
    for i in range(40):
        ctx.note("198.18.0.7", f"problem {i % 20}\x1b[2J")
    assert len(ctx.notes["198.18.0.7"]) == 16
    assert ctx.notes["198.18.0.7"][0] == "problem 0\\x1b[2J"
