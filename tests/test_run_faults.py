"""Faults of the run itself: Ctrl-C in the middle of a scan, an output path that cannot be
written, replacing output files, a discovery module that fails."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_schema_valid

from camscan.discovery.base import BroadcastModule, HostModule, ScanContext, ScanSettings
from camscan.discovery.http import HttpModule
from camscan.discovery.ports import scan_ports
from camscan.errors import UsageError
from camscan.lab.iproute import IP
from camscan.lab.netns import Lab
from camscan.lab.personas import load_personas
from camscan.lab.testing import lab_or_skip
from camscan.lab.topology import SCANNER_IF, LabHost
from camscan.output import atomic_write, dump_json, write_text
from camscan.scan import ScanEngine

_PROGRESS = re.compile(rb"modules (\d+)/(\d+)\s+hosts (\d+)/(\d+)")
WAIT_LIMIT = 120.0  # a safety net only: every wait below ends on an event


# -- Ctrl-C ----------------------------------------------------------------------------------


def _wait_for_all_hosts(master: int, proc: subprocess.Popen[bytes], hosts: int) -> bytes:
    """Read the progress line from the pty until every host's probes are done while the
    broadcast modules still listen; return what was read."""
    seen = b""
    deadline = time.monotonic() + WAIT_LIMIT
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            continue
        try:
            seen += os.read(master, 65536)
        except OSError:
            break
        found = _PROGRESS.findall(seen[-4096:])
        if found:
            mod_done, mod_total, done, total = map(int, found[-1])
            if total >= hosts and done == total and mod_done < mod_total:
                return seen
    raise AssertionError(f"progress never showed {hosts} hosts done: {seen[-300:]!r}")


@pytest.mark.lab
def test_ctrl_c_writes_what_was_found_as_a_partial_device_list(office: Any, tmp_path: Path) -> None:
    personas = load_personas()
    out, table = tmp_path / "partial.json", tmp_path / "partial.csv"
    argv = office.camscan_argv(
        ["scan", office.subnet, "--interface", office.lab.scanner_if,
         "--modules", "arp,wsd,sadp,dahua,ssdp,http,rtsp",  # onvif waits for discovery's end
         "--listen", "90", "--module-budget", "120",
         "-o", str(out), "--csv", str(table)]
    )  # fmt: skip
    master, slave = pty.openpty()  # a terminal on stderr: the progress line is shown
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave
        )
        os.close(slave)
        try:
            _wait_for_all_hosts(master, proc, len(personas))
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        rest = b""
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    finally:
        os.close(master)
    assert proc.returncode == 130, rest[-500:]
    message = f"interrupted; wrote {len(personas)} devices found so far (partial)"
    assert message.encode() in rest.replace(b"\r", b"")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert_schema_valid(doc)
    assert doc["scan"]["partial"] is True
    # every host had been probed when the signal came: all of them are in the list
    assert {d["ip"] for d in doc["devices"]} == {p.ip for p in personas}
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert {r["ip"] for r in rows} == {p.ip for p in personas}
    assert list(tmp_path.glob(".*.tmp")) == []


# -- unwritable output: refused before the first packet --------------------------------------


@pytest.fixture(scope="module")
def quiet_lab() -> Iterator[Lab]:
    """A lab of its own, where nothing has talked yet: any frame the scanner sends shows in
    its interface counters (a shared lab still has sockets of earlier scans closing)."""
    with lab_or_skip([LabHost("198.18.0.10", "02:48:00:00:00:10")]) as lab:
        yield lab


def _tx_packets(lab: Lab) -> int:
    raw = subprocess.run(
        [IP, "-n", lab.scanner_ns, "-s", "-j", "link", "show", "dev", SCANNER_IF],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return int(json.loads(raw)[0]["stats64"]["tx"]["packets"])


@pytest.mark.lab
@pytest.mark.parametrize(
    ("flag", "path", "why"),
    [
        ("-o", "/nonexistent/dir/x.json", "does not exist"),
        ("--csv", "/nonexistent/dir/x.csv", "does not exist"),
        ("-o", "/", "is a directory"),
    ],
)
def test_unwritable_output_fails_before_any_packet(
    quiet_lab: Lab, flag: str, path: str, why: str
) -> None:
    before = _tx_packets(quiet_lab)
    argv = quiet_lab.netns_argv(
        quiet_lab.scanner_ns,
        [sys.executable, "-m", "camscan", "scan", "198.18.0.0/24", "--interface", SCANNER_IF,
         flag, path],
    )  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("camscan: ") and why in lines[0], lines
    assert proc.stdout == ""
    assert _tx_packets(quiet_lab) == before  # not one frame left the scanner


# -- atomic replacement ----------------------------------------------------------------------


def _doc(label: str, size: int) -> dict[str, Any]:
    return {"label": label, "pad": label * size}


def test_output_is_replaced_in_one_step_while_a_reader_watches(tmp_path: Path) -> None:
    target = tmp_path / "devices.json"
    a, b = dump_json(_doc("a", 300_000)), dump_json(_doc("b", 200_000))
    atomic_write(target, a)
    stop = threading.Event()
    seen: list[str] = []
    torn: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            text = target.read_text(encoding="utf-8")
            if text not in (a, b):
                torn.append(len(text))
            seen.append(text[:20])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            atomic_write(target, b if i % 2 == 0 else a)
    finally:
        stop.set()
        thread.join()
    assert torn == []
    assert len(seen) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["devices.json"]  # no temp file left


def test_failed_replacement_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "devices.json"
    target.write_text("old\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(UsageError, match="cannot write: No space left"):
        write_text(str(target), "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["devices.json"]


def test_replaced_file_gets_the_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "devices.json"
    old = os.umask(0o022)
    try:
        atomic_write(target, "x\n")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


# -- a failing module is reported, the others go on ------------------------------------------


class ExplodingBroadcast(BroadcastModule):
    name = "exploding"

    async def run(self, ctx: ScanContext) -> None:
        raise RuntimeError("discovery blew up")


class ExplodingHost(HostModule):
    name = "exploding-host"
    ports = None

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        raise ValueError("probe blew up")


async def test_a_failing_module_is_reported_and_the_others_go_on() -> None:
    async def web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<title>Still here</title>"
        writer.write(
            b"HTTP/1.1 200 OK\r\nServer: Survivor/1.0\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(web, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.1/32")],
            interface=None,
            local_ip="127.0.0.1",
            settings=ScanSettings(ports=(port,), io_timeout=3.0, listen_window=0.1),
        )
        engine = ScanEngine(
            ctx,
            [ExplodingBroadcast()],
            [ExplodingHost(), HttpModule(web_ports={port}, vendor_paths=())],
            sweep=["127.0.0.1"],
            scan_ports=scan_ports,
        )
        ctx.feed_hosts_to(engine.host_seen)
        evidence = await engine.run()
    finally:
        server.close()
        await server.wait_closed()
    assert "exploding: module failed: RuntimeError: discovery blew up" in ctx.warnings
    assert "exploding-host: module failed: ValueError: probe blew up" in ctx.warnings
    found = {(e.protocol, e.value) for e in evidence}
    assert ("open_port", f"{port}/tcp") in found
    assert ("http_server", "Survivor/1.0") in found and ("html_title", "Still here") in found
