"""A running emulated office: the lab network, the device simulator serving the personas, and
a way to run camscan inside the scanner namespace. Used by `camscan demo`, the end-to-end
tests and the benchmarks, so all three exercise the same code path as `camscan scan`."""

from __future__ import annotations

import ipaddress
import json
import os
import selectors
import shutil
import signal
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

    def __init__(
        self,
        personas: Sequence[Persona],
        *,
        subnet: str = "198.18.0.0/24",
        routed: str | None = None,
    ) -> None:
        """`routed`: a network behind a router namespace (camscan.lab.topology); personas
        inside it keep their own prefix (their VLAN), the others get the subnet's."""
        self.personas = list(personas)
        self.subnet = subnet
        self.routed = routed
        prefix = int(subnet.rsplit("/", 1)[1])
        behind = ipaddress.IPv4Network(routed) if routed else None
        hosts = [
            LabHost(p.ip, p.mac, p.prefix)
            if behind is not None and ipaddress.IPv4Address(p.ip) in behind
            else LabHost(p.ip, p.mac, prefix)
            for p in self.personas
        ]
        self.lab = Lab(hosts, subnet=subnet, routed=routed)
        self.last_returncode: int | None = None
        self.last_stderr = ""
        self.workdir = Path(tempfile.mkdtemp(prefix="camscan-office-"))
        self.audit_path = self.workdir / "audit.jsonl"
        self.sim: subprocess.Popen[bytes] | None = None
        self.build_seconds = 0.0
        self.ready_seconds = 0.0
        self._out = b""  # simulator stdout not yet consumed
        self.announce_rounds = 0

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
        self._wait_line(b"READY", READY_TIMEOUT, "ready")

    def _wait_line(self, prefix: bytes, timeout: float, what: str) -> bytes:
        """The next line of the simulator's stdout that starts with `prefix`."""
        assert self.sim is not None and self.sim.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.sim.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while True:
                while b"\n" in self._out:
                    line, self._out = self._out.split(b"\n", 1)
                    if line.startswith(prefix):
                        return line
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    raise LabError(f"device simulator not {what} after {timeout:g}s")
                chunk = os.read(self.sim.stdout.fileno(), 4096)
                if not chunk:
                    err = self.sim.stderr.read().decode(errors="replace") if self.sim.stderr else ""
                    last = err.strip().splitlines()[-1:] or ["no output"]
                    raise LabError(f"device simulator exited before it was {what}: {last[0]}")
                self._out += chunk
        finally:
            sel.close()

    def announce(self, timeout: float = 60.0) -> int:
        """Every device announces itself once, unasked (ARP, DHCP, WS-Discovery Hello, SSDP
        NOTIFY, mDNS; see camscan.lab.devsim.announce). Returns the round number once all of
        it is sent; the round ends with a marker frame (announce.marker_payload(round))."""
        assert self.sim is not None
        self.sim.send_signal(signal.SIGUSR1)
        line = self._wait_line(b"ANNOUNCED", timeout, "done announcing")
        _, round_no, sent = line.split()
        if int(sent) < 0:
            raise LabError("the devices could not announce themselves (see the simulator log)")
        self.announce_rounds = int(round_no)
        return self.announce_rounds

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

    def scan(
        self,
        extra: Sequence[str] = (),
        *,
        timeout: float = 300,
        targets: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Run `camscan scan` in the scanner namespace over the lab subnet (or `targets`);
        return the JSON. Exit status 3 (finished, incomplete: the list is marked partial) is
        a result too; `last_returncode` keeps the status."""
        out = self.workdir / f"scan-{time.monotonic_ns()}.json"
        argv = self.camscan_argv(
            [
                "scan",
                *(targets or [self.subnet]),
                "--interface",
                self.lab.scanner_if,
                "-o",
                str(out),
                "--quiet",
                *extra,
            ]
        )
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        self.last_returncode = proc.returncode
        self.last_stderr = proc.stderr
        if proc.returncode not in (0, 3):
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            raise LabError(f"camscan scan in the lab failed: {tail[0]}")
        return json.loads(out.read_text())

    def listen(self, extra: Sequence[str] = (), *, timeout: float = 120) -> dict[str, Any]:
        """Run `camscan passive --interface` in the scanner namespace while every device
        announces itself once (announce()); nothing probes. The capture is stopped with
        SIGINT (its normal end without --duration) once the round's marker has arrived.
        Returns the JSON device list."""
        out = self.workdir / f"listen-{time.monotonic_ns()}.json"
        argv = ["passive", "--interface", self.lab.scanner_if, "-o", str(out), *extra]
        capture = self.lab.spawn(
            self.lab.scanner_ns,
            [sys.executable, "-m", "camscan", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        round_no = self.announce_rounds + 1
        waiter = self.lab.spawn(
            self.lab.scanner_ns,
            [sys.executable, "-m", "camscan.lab.markerwait", self.lab.scanner_if,
             str(round_no), str(timeout)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            _wait_output(capture, capture.stderr, b"listening on", timeout)
            _wait_output(waiter, waiter.stdout, b"READY", timeout)
            self.announce(timeout)
            if waiter.wait(timeout=timeout + 10) != 0:
                raise LabError("the end-of-round marker of the announcements never arrived")
            capture.send_signal(signal.SIGINT)
            _, err = capture.communicate(timeout=timeout)
            if capture.returncode != 0:
                tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise LabError(f"camscan passive in the lab failed: {tail[0]}")
        except KeyboardInterrupt:
            # Ctrl-C reached the capture too (same process group): SIGINT is its normal end,
            # so it writes what it heard. Wait for that list and hand it on, marked partial.
            raise ListenInterrupted(_heard_so_far(capture, out)) from None
        finally:
            for proc in (capture, waiter):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return json.loads(out.read_text())

    def audit(self) -> list[dict[str, Any]]:
        from camscan.lab.devsim.audit import read_audit

        return read_audit(self.audit_path) if self.audit_path.exists() else []


class ListenInterrupted(KeyboardInterrupt):
    """Ctrl-C during Office.listen(); `doc` is the device list heard so far (partial), or
    None when the capture wrote none."""

    def __init__(self, doc: dict[str, Any] | None) -> None:
        super().__init__()
        self.doc = doc


def _heard_so_far(capture: subprocess.Popen[bytes], out: Path) -> dict[str, Any] | None:
    for action in (None, signal.SIGINT):
        if action is not None and capture.poll() is None:
            capture.send_signal(action)
        try:
            capture.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    if not out.exists():
        return None
    try:
        doc: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        return None
    doc["scan"]["partial"] = True
    return doc


def routed_personas(
    n: int, routed: str = "198.19.0.0/16", *, vlan_prefix: int = 24, seed: int = 0
) -> list[Persona]:
    """`n` office personas scattered over `routed`, each alone in a random VLAN of
    `vlan_prefix` (its router is that VLAN's first address), e.g. nine devices over a /16."""
    import copy
    import random

    from camscan.lab.personas.generate import generate_office
    from camscan.lab.personas.model import build_persona

    net = ipaddress.IPv4Network(routed)
    vlans = list(net.subnets(new_prefix=vlan_prefix))
    if n > len(vlans):
        raise LabError(f"{n} devices need {n} VLANs of /{vlan_prefix}; {net} has {len(vlans)}")
    rng = random.Random(seed)
    picked = sorted(rng.sample(vlans, n))
    base = generate_office(n, str(net), seed=seed)
    out = []
    for persona, vlan in zip(base, picked, strict=True):
        hosts = list(vlan.hosts())[1:]  # the first is the router
        spec = copy.deepcopy(persona.spec)
        spec["ip"] = str(rng.choice(hosts))
        spec["prefix"] = vlan_prefix
        spec["gateway"] = str(vlan.network_address + 1)
        out.append(build_persona(spec, f"routed_personas(n={n}, routed={net}, seed={seed})"))
    return out


def _wait_output(proc: subprocess.Popen[bytes], stream: Any, needle: bytes, timeout: float) -> None:
    """Read `stream` (a pipe of proc) until `needle` shows up."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while needle not in buf:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                raise LabError(f"no {needle.decode()!r} from {proc.args[-3:]} in {timeout:g}s")
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                last = buf.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise LabError(f"{proc.args[-3:]} exited early: {last[0]}")
            buf += chunk
    finally:
        sel.close()
