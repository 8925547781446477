"""Passive mode in the lab: a live capture in the scanner namespace, and a pcap recorded there,
while the active scan runs, name the same manufacturers for the same devices as the scan."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_schema_valid

pytestmark = pytest.mark.lab

LISTEN = 8.0
RECORDER = """
import sys
from scapy.sendrecv import sniff
from scapy.utils import wrpcap
pkts = sniff(iface=sys.argv[1], timeout=float(sys.argv[2]),
             started_callback=lambda: print("STARTED", flush=True))
wrpcap(sys.argv[3], pkts)
"""


def _wait_for(proc: subprocess.Popen[bytes], stream: Any, needle: bytes, timeout: float) -> None:
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        if not sel.select(max(0.0, deadline - time.monotonic())):
            pytest.fail(f"no {needle!r} from {proc.args[-3:]}: {buf[-300:]!r}")
        chunk = stream.read1(4096)
        if not chunk:
            pytest.fail(f"exited before {needle!r}: {buf[-300:]!r}")
        buf += chunk


@pytest.fixture(scope="module")
def captured(office) -> dict[str, Any]:
    live_out = office.workdir / "passive-live.json"
    pcap = office.workdir / "scan.pcap"
    live = subprocess.Popen(
        office.camscan_argv(
            ["passive", "--interface", office.lab.scanner_if, "--duration", str(LISTEN),
             "-o", str(live_out)]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    recorder = subprocess.Popen(
        office.lab.netns_argv(
            office.lab.scanner_ns,
            [sys.executable, "-c", RECORDER, office.lab.scanner_if, str(LISTEN), str(pcap)],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(live, live.stderr, b"listening on", 30)
        _wait_for(recorder, recorder.stdout, b"STARTED", 30)
        active = office.scan()
        assert live.wait(timeout=60) == 0
        assert recorder.wait(timeout=60) == 0
    finally:
        for p in (live, recorder):
            if p.poll() is None:
                p.kill()
    return {
        "active": active,
        "live": json.loads(live_out.read_text()),
        "file": read_capture(pcap),
    }


def read_capture(pcap: Path) -> dict[str, Any]:
    """`camscan passive FILE` as a user runs it: the device list it writes."""
    out = pcap.with_suffix(".json")
    proc = subprocess.run(
        [sys.executable, "-m", "camscan", "passive", str(pcap), "-o", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["live", "file"])
def test_passive_names_the_same_makers_as_the_scan(captured, kind):
    doc = captured[kind]
    assert_schema_valid(doc)
    assert doc["scan"]["mode"] == "passive"
    active = {d["ip"]: d for d in captured["active"]["devices"]}
    passive = {d["ip"]: d for d in doc["devices"] if d["ip"] in active}
    named = [ip for ip, d in active.items() if d["manufacturer"]]
    # Everything the scan's answers showed crossed the wire: passive must name the devices too.
    agree = [
        ip
        for ip in named
        if ip in passive and passive[ip]["manufacturer"] == active[ip]["manufacturer"]
    ]
    disagree = {
        ip: (passive[ip]["manufacturer"], active[ip]["manufacturer"])
        for ip in passive
        if passive[ip]["manufacturer"] and passive[ip]["manufacturer"] != active[ip]["manufacturer"]
    }
    assert disagree == {}
    # A capture can drop packets when the machine is busy (a full socket buffer): allow a
    # few devices to go unnamed, never a wrong name.
    assert len(agree) >= 0.9 * len(named), sorted(set(named) - set(agree))
    for ip, d in passive.items():
        if not active[ip]["is_surveillance"]:
            assert not d["is_surveillance"], ip
