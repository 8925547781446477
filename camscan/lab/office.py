"""A running emulated office: the lab network, the device simulator serving the personas, and
a way to run camscan inside the scanner namespace. Used by `camscan demo`, the end-to-end
tests and the benchmarks, so all three exercise the same code path as `camscan scan`."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from camscan.errors import LabError
from camscan.lab.netns import Lab, LabHost
from camscan.lab.personas import Persona

READY_TIMEOUT = 120.0


class Office:
    """Context manager: lab up + simulator ready on enter; everything gone on exit."""

    def __init__(self, personas: Sequence[Persona], *, subnet: str = "198.18.0.0/24") -> None:
        self.personas = list(personas)
        self.subnet = subnet
        prefix = int(subnet.rsplit("/", 1)[1])
        self.lab = Lab([LabHost(p.ip, p.mac, prefix) for p in self.personas], subnet=subnet)
        self.workdir = Path(tempfile.mkdtemp(prefix="camscan-office-"))
        self.audit_path = self.workdir / "audit.jsonl"
        self.sim: subprocess.Popen[bytes] | None = None
        self.build_seconds = 0.0
        self.ready_seconds = 0.0

    def __enter__(self) -> Office:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        t0 = time.monotonic()
        self.lab.up()
        self.build_seconds = time.monotonic() - t0
        personas_file = self.workdir / "personas.yaml"
        personas_file.write_text(
            yaml.safe_dump({"devices": [p.raw for p in self.personas]}, sort_keys=False)
        )
        t1 = time.monotonic()
        self.sim = self.lab.spawn(
            self.lab.devices_ns,
            [
                sys.executable,
                "-m",
                "camscan.lab.devsim",
                "--personas",
                str(personas_file),
                "--audit-log",
                str(self.audit_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()
        self.ready_seconds = time.monotonic() - t1

    def _wait_ready(self) -> None:
        assert self.sim is not None and self.sim.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.sim.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + READY_TIMEOUT
        buf = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(self.sim.stdout.fileno(), 4096)
            if not chunk:
                err = self.sim.stderr.read().decode(errors="replace") if self.sim.stderr else ""
                last = err.strip().splitlines()[-1:] or ["no output"]
                raise LabError(f"device simulator exited before it was ready: {last[0]}")
            buf += chunk
            if b"READY" in buf:
                return
        raise LabError(f"device simulator not ready after {READY_TIMEOUT:g}s")

    def stop(self) -> None:
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            try:
                self.sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait()
        self.lab.down()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- using it -------------------------------------------------------------
    def camscan_argv(self, args: Sequence[str]) -> list[str]:
        return self.lab.netns_argv(self.lab.scanner_ns, [sys.executable, "-m", "camscan", *args])

    def scan(self, extra: Sequence[str] = (), *, timeout: float = 300) -> dict[str, Any]:
        """Run `camscan scan` in the scanner namespace over the lab subnet; return the JSON."""
        out = self.workdir / f"scan-{time.monotonic_ns()}.json"
        argv = self.camscan_argv(
            [
                "scan",
                self.subnet,
                "--interface",
                self.lab.scanner_if,
                "-o",
                str(out),
                "--quiet",
                *extra,
            ]
        )
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise LabError(f"camscan scan in the lab failed: {tail[0]}")
        return json.loads(out.read_text())

    def audit(self) -> list[dict[str, Any]]:
        from camscan.lab.devsim.audit import read_audit

        return read_audit(self.audit_path) if self.audit_path.exists() else []
