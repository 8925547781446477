"""Render the HTML report in headless Chromium: it lays out (a real screenshot, not a blank
page) and the DOM holds the device table with hostile strings still inert.

Chromium runs inside a fresh network namespace (`unshare -n`) when the test runs as root, so
the browser has no route anywhere; the page itself forbids every fetch with its CSP. When
Chromium is missing the test installs it once, as root, only where CI runs (CI=true) or when
asked (CAMSCAN_INSTALL_CHROMIUM=1; =0 never), and otherwise skips with the reason."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from camscan.model import Device, Evidence, ScanInfo, ScanResult
from camscan.policy import apply_policy, default_vendors, load_regimes, select_regimes
from camscan.report import render_report

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT = "<script>document.title='pwned'</script>"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _chromium()
    if found:
        return found
    if os.geteuid() != 0 or not install_asked():
        pytest.skip(
            "chromium is not installed (set CAMSCAN_INSTALL_CHROMIUM=1 as root to install it)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False)
        if done.returncode != 0:
            pytest.skip(f"could not install chromium: {' '.join(cmd)} exited {done.returncode}")
    found = _chromium()
    if not found:
        pytest.skip("chromium still missing after apt-get install")
    return found


def install_asked() -> bool:
    """Install Chromium where CI runs (CI=true) or when asked; CAMSCAN_INSTALL_CHROMIUM wins."""
    asked = os.environ.get("CAMSCAN_INSTALL_CHROMIUM")
    if asked is not None:
        return asked == "1"
    return os.environ.get("CI") == "true"


def _isolated(cmd: list[str]) -> list[str]:
    """Run in a new, empty network namespace where that is possible."""
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0:
        probe = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [unshare, "-n", *cmd]
    return cmd


def _run(
    chromium: str, profile: Path, extra: list[str], page: Path
) -> subprocess.CompletedProcess[bytes]:
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(_isolated(cmd), capture_output=True, timeout=180, check=False)


def office_doc() -> dict:
    devices = []
    for i in range(12):
        maker = ("Hikvision", "Dahua", "Axis", None)[i % 4]
        d = Device(
            f"10.0.{i % 3}.{10 + i}",
            mac=f"bc:ad:28:00:00:{i:02x}",
            manufacturer=maker,
            model=f"MODEL-{i}",
            device_type="camera",
            is_surveillance=True,
            firmware="V5.4.0 build 160401" if maker == "Hikvision" else None,
            hostname=SCRIPT if i == 3 else None,
        )
        d.evidence = [(Evidence("http", "html_title", SCRIPT, port=80, observed_at=1.7e9), None)]
        devices.append(d)
    regimes = select_regimes(None, load_regimes())
    apply_policy(devices, regimes, default_vendors())
    info = ScanInfo("active", ["10.0.0.0/22"], ["http"], [r.id for r in regimes], 1.7e9, 1.7e9 + 3)
    return ScanResult(info, devices).to_json()


def _png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) image data of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_html_report_renders(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_report(office_doc(), "html"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    done = _run(
        chromium, tmp_path / "profile", [f"--screenshot={shot}", "--window-size=1280,2000"], page
    )
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    data = shot.read_bytes()
    assert len(data) > 20_000
    width, height, pixels = _png_pixels(data)
    assert (width, height) == (1280, 2000)
    # a blank or single-colour page compresses to a handful of byte values; a laid-out report
    # (text, coloured bars, badges) has many
    assert len(set(pixels)) > 64

    dom = _run(chromium, tmp_path / "profile2", ["--dump-dom"], page).stdout.decode(
        "utf-8", "replace"
    )
    assert "camscan report" in dom
    assert dom.count('class="devices"') >= 3  # one device table per manufacturer
    for ip in ("10.0.0.10", "10.0.1.11", "10.0.2.12"):
        assert ip in dom
    assert "<svg" in dom and "Replacement plan" in dom
    # the hostile strings are text, not elements: no script ran, none is in the DOM
    assert "<script" not in dom.lower()
    assert "&lt;script&gt;" in dom
    assert "<title>camscan report</title>" in dom
