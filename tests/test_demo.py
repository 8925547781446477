"""`camscan demo` as a user runs it: it builds its own office, scans it (or listens to it with
--passive), writes the device list and leaves no namespace behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from camscan.lab.iproute import netns_names
from tests.conftest import assert_schema_valid

pytestmark = pytest.mark.lab


@pytest.fixture(autouse=True)
def _lab() -> None:
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize(("flags", "mode"), [([], "active"), (["--passive"], "passive")])
def test_demo(tmp_path: Path, flags: list[str], mode: str) -> None:
    before = set(netns_names())
    out = tmp_path / "devices.json"
    proc = subprocess.run(
        [sys.executable, "-m", "camscan", "demo", "-o", str(out), *flags],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert_schema_valid(doc)
    assert doc["scan"]["mode"] == mode
    makers = {d["manufacturer"] for d in doc["devices"]}
    assert {"Hikvision", "Dahua", "Axis"} <= makers
    assert "Hikvision" in proc.stdout  # the table by maker
    assert "write or login attempts logged by the lab devices: 0" in " ".join(proc.stderr.split())
    assert set(netns_names()) == before
