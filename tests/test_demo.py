"""`camscan demo` as a user runs it: it builds its own office, scans it (or listens to it with
--passive), writes the device list and leaves no namespace behind."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
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
    assert_lab_gone(proc.stderr)


def assert_lab_gone(stderr: str) -> None:
    """The namespaces this demo made (named after the stem it printed) are gone; namespaces
    other programs keep on this machine are none of its business."""
    found = re.search(r"from namespace (\S+)-scan\b", " ".join(stderr.split()))
    assert found, stderr[-2000:]
    stem = found.group(1)
    assert [n for n in netns_names() if n.startswith(f"{stem}-")] == []


@pytest.mark.parametrize(("extra", "cue"), [((), b"scanning"), (("--passive",), b"listening to")])
def test_demo_ctrl_c_writes_a_partial_list(
    tmp_path: Path, extra: tuple[str, ...], cue: bytes
) -> None:
    """Ctrl-C in the terminal (SIGINT to the foreground process group) while the demo scans
    or listens: a message, the list found so far marked partial, exit 130, the lab torn down."""
    out = tmp_path / "devices.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "camscan", "demo", *extra, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert proc.stderr is not None
    seen = _read_until(proc, proc.stderr, cue)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, rest = proc.communicate(timeout=120)
    stderr = (seen + rest).decode(errors="replace")
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted; wrote" in stderr and "(partial)" in stderr
    doc = json.loads(out.read_text())
    assert_schema_valid(doc)
    assert doc["scan"]["partial"] is True
    assert_lab_gone(stderr)


def _read_until(proc: subprocess.Popen[bytes], stream: object, needle: bytes) -> bytes:
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    buf = b""
    while needle not in buf:
        if not sel.select(timeout=120):
            proc.kill()
            raise AssertionError(f"{needle!r} never came: {buf[-2000:]!r}")
        chunk = os.read(stream.fileno(), 4096)  # type: ignore[attr-defined]
        if not chunk:
            raise AssertionError(f"the demo ended before {needle!r}: {buf[-2000:]!r}")
        buf += chunk
    return buf
