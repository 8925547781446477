"""Tables never lose text: in a narrow terminal they wrap at word boundaries (or turn into
one block of lines per device), piped they keep their natural width. Every word of the
makers, regimes and reasons survives whole, and the header's counts match the tables."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from test_report import hostile_doc

from camscan.model import Device, ScanInfo, ScanResult
from camscan.policy import apply_policy, default_vendors, load_regimes
from camscan.report.context import build_context
from camscan.report.table import print_scan_table


def office_doc() -> dict[str, Any]:
    """Relabels with long names, every regime, long reasons, and one restricted device that
    is not a surveillance device (an EZVIZ hub heard only by its cloud lookups)."""
    devices = [
        Device(
            "10.0.0.15",
            mac="14:2f:fd:42:15:15",
            manufacturer="Hikvision",
            brand="LTS",
            model="CMIP7442NW-28M",
            firmware="V5.6.5 build 211124",
            device_type="camera",
            is_surveillance=True,
        ),
        Device(
            "10.0.0.21",
            mac="9c:8e:cd:2a:21:21",
            manufacturer="Dahua",
            brand="Amcrest",
            model="IP5M-T1179EW",
            firmware="2.800.00AC006.0.R,build:2022-06-27",
            device_type="camera",
            is_surveillance=True,
        ),
        Device(
            "10.0.0.25",
            mac="e4:30:22:5a:25:25",
            manufacturer="Hanwha Vision",
            brand="Wisenet",
            model="XNO-6080R",
            device_type="camera",
            is_surveillance=True,
        ),
        Device(
            "10.0.0.40",
            mac="64:f2:fb:30:40:40",
            manufacturer="Hikvision",
            brand="EZVIZ",
            device_type="other",
            is_surveillance=False,
        ),
        Device("10.0.0.90", manufacturer="HP", model="LaserJet", device_type="other"),
    ]
    regimes = list(load_regimes().values())
    apply_policy(devices, regimes, default_vendors())
    info = ScanInfo("active", ["10.0.0.0/24"], ["sadp"], [r.id for r in regimes], 1.7e9, 1.7e9)
    return ScanResult(info, devices).to_json()


def words_that_must_survive(doc: dict[str, Any]) -> set[str]:
    words: set[str] = set()
    for d in doc["devices"]:
        if not (d.get("is_surveillance") or d.get("restricted_by") or d.get("replacement")):
            continue  # listed only in the JSON and CSV
        for value in (d.get("manufacturer"), d.get("brand")):
            words.update(str(value or "").split())
        words.update(d.get("restricted_by") or [])
        for reason in (d.get("replacement") or {}).get("reasons") or []:
            words.update(reason.replace(";", " ").split())
    return {w.strip(",;():") for w in words if w.strip(",;():")}


def rendered_words(text: str) -> set[str]:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return {w.strip(",;():") for w in re.split(r"[\s│┃]+", plain) if w.strip(",;():")}


def render(doc: dict[str, Any], width: int, terminal: bool) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=terminal,
        color_system="truecolor" if terminal else None,
    )
    print_scan_table(doc, console)
    return buf.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 130, 200])
@pytest.mark.parametrize("make", [office_doc, hostile_doc], ids=["office", "hostile"])
def test_narrow_terminal_wraps_and_never_cuts(width: int, make: Any) -> None:
    doc = make()
    out = render(doc, width, terminal=True)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert max(len(line) for line in plain.splitlines()) <= width
    missing = words_that_must_survive(doc) - rendered_words(out)
    assert not missing, (width, sorted(missing))
    assert "…" not in plain  # nothing cut with an ellipsis
    for d in doc["devices"]:
        if d.get("is_surveillance") or d.get("restricted_by"):
            assert d["ip"] in plain
            if d.get("mac"):
                assert d["mac"] in plain  # no column dropped


def test_pipe_keeps_every_word_on_its_line() -> None:
    """Not a terminal: `camscan report` lays the tables out at full width, one line a row."""
    doc = office_doc()
    path = Path(__file__).parent / "_layout_doc.json"
    try:
        import json

        path.write_text(json.dumps(doc))
        proc = subprocess.run(
            [sys.executable, "-m", "camscan", "report", str(path)],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": ""},
            timeout=60,
            check=False,
        )
    finally:
        path.unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr
    missing = words_that_must_survive(doc) - rendered_words(proc.stdout)
    assert not missing, sorted(missing)
    # every device is one row: its IP, maker and restrictions on the same line
    for d in doc["devices"]:
        if d.get("restricted_by"):
            row = next(line for line in proc.stdout.splitlines() if d["ip"] in line)
            assert d["manufacturer"] in row and ", ".join(d["restricted_by"]) in row
    # every plan reason whole on one line
    for d in doc["devices"]:
        for reason in (d.get("replacement") or {}).get("reasons") or []:
            assert reason in proc.stdout


def test_counts_agree_with_the_tables() -> None:
    """The header's counts are the JSON summary's; the tables list the surveillance devices
    plus the restricted ones that are not, and say so."""
    doc = office_doc()
    summary = doc["summary"]
    ctx = build_context(doc)
    assert ctx.summary["total"] == summary["total"] == 5
    assert ctx.summary["surveillance"] == summary["surveillance"] == 3
    assert ctx.summary["restricted"] == summary["restricted"]
    out = re.sub(r"\x1b\[[0-9;]*m", "", render(doc, 200, terminal=False))
    head = out.splitlines()[0]
    assert f"{summary['total']} devices, {summary['surveillance']} surveillance" in head
    assert f"{summary['restricted']} restricted" in head
    listed = sum(int(n) for n in re.findall(r"— (\d+) device\(s\)", out))
    assert listed == ctx.listed == 4
    assert "by maker below: 4 (3 surveillance + 1 restricted or to review" in out
    assert "1 not surveillance" in out  # the Hikvision group says which of its rows is not
    assert "1 other device(s)" in out


def test_report_states_the_regimes_applied() -> None:
    out = render(office_doc(), 200, terminal=False)
    policy = out[out.index("policy:") :]
    for rid in load_regimes():
        assert f"  {rid}: " in policy
