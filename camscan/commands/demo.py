"""`camscan demo`: build the emulated office, scan it with the real scanner, show the result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from camscan.errors import LabError
from camscan.output import check_writable, write_device_list


def demo(
    output: Annotated[
        str,
        typer.Option("-o", "--output", help="Where to write the JSON device list.", metavar="FILE"),
    ] = "devices.json",
    personas: Annotated[
        Path | None,
        typer.Option(help="Persona file. Default: the bundled office.", metavar="FILE"),
    ] = None,
    passive: Annotated[
        bool,
        typer.Option(
            "--passive",
            help="Listen instead of scanning: the devices announce themselves once and "
            "`camscan passive` hears them; nothing is probed.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress, no table: only write the JSON.")
    ] = False,
) -> None:
    """Build an emulated office in network namespaces, scan it (or, with --passive, listen
    to it), print the devices by manufacturer and the replacement summary, write
    devices.json, tear the lab down. Never touches the machine's real network."""
    from camscan.lab.netns import lab_available

    check_writable(output)
    ok, reason = lab_available()
    if not ok:
        raise LabError(f"cannot build the lab here: {reason}")
    if os.geteuid() != 0:
        # Not root: the same demo, re-run inside an unprivileged user + network namespace.
        from camscan.lab.unpriv import reexec_unprivileged

        argv = [sys.executable, "-m", "camscan", "demo", "-o", output]
        if personas is not None:
            argv += ["--personas", str(personas)]
        argv += ["--passive"] if passive else []
        raise typer.Exit(reexec_unprivileged([*argv, *(["--quiet"] if quiet else [])]))

    from camscan.lab.office import Office
    from camscan.lab.personas import load_personas

    console = Console(stderr=True, quiet=quiet)
    people = load_personas(personas)
    t0 = time.monotonic()
    try:
        with console.status(f"building the office: {len(people)} devices in network namespaces"):
            office = Office(people)
            office.__enter__()
    except KeyboardInterrupt:
        sys.stderr.write("camscan: interrupted while building the lab; nothing was scanned\n")
        raise typer.Exit(130) from None
    interrupted = False
    try:
        doing = "listening to" if passive else "scanning"
        t1 = time.monotonic()
        try:
            # Inside the try: a Ctrl-C right after this line still ends as "interrupted".
            console.print(
                f"lab up in {office.build_seconds:.1f}s, devices ready in "
                f"{office.ready_seconds:.1f}s; {doing} {office.subnet} from namespace "
                f"{office.lab.scanner_ns}"
            )
            if passive:
                with console.status("listening while every device announces itself once"):
                    doc = office.listen()
            else:
                with console.status("scanning with every module"):
                    doc = _scan(office)
        except KeyboardInterrupt as exc:
            interrupted = True
            heard = getattr(exc, "doc", None)  # Office.listen's list heard so far
            if passive:
                doc = heard if heard is not None else _nothing(office, "passive")
            else:
                doc = _scan(office, interrupted=True)
        scan_seconds = time.monotonic() - t1
        attempts = office.audit()
    finally:
        office.__exit__(None, None, None)
    write_device_list(doc, output)
    if not quiet:
        from camscan.report.table import make_console, print_scan_table

        print_scan_table(doc, make_console())
    summary = doc["summary"]
    if interrupted:
        sys.stderr.write(
            f"camscan: interrupted; wrote {len(doc['devices'])} devices found so far (partial) "
            f"to {output}; lab torn down\n"
        )
        raise typer.Exit(130)
    console.print(
        f"{'listening' if passive else 'scan'} took {scan_seconds:.1f}s; "
        f"{summary['total']} devices, "
        f"{summary['surveillance']} surveillance, {summary['restricted']} restricted; "
        f"write or login attempts logged by the lab devices: {len(attempts)}; "
        f"lab torn down; wrote {output} (total {time.monotonic() - t0:.1f}s)"
    )


_scans: dict[int, tuple[subprocess.Popen[str], Path]] = {}


def _scan(office: Any, *, interrupted: bool = False) -> dict[str, Any]:
    """`camscan scan` of the lab subnet in the scanner namespace (as office.scan()), run so
    that Ctrl-C behaves as in a plain `camscan scan`: the scan, in this process group, gets
    the same SIGINT and writes what it found so far, marked partial. With `interrupted`,
    collect that partial list of the scan already started."""
    if interrupted:
        proc, out = _scans.pop(id(office), (None, None))
        if proc is None or out is None:
            return _nothing(office, "active")
        _wait_interrupted(proc)
        if not out.exists():
            return _nothing(office, "active")
        doc: dict[str, Any] = json.loads(out.read_text())
        doc["scan"]["partial"] = True
        return doc
    out = office.workdir / f"demo-scan-{time.monotonic_ns()}.json"
    argv = office.camscan_argv(
        ["scan", office.subnet, "--interface", office.lab.scanner_if, "-o", str(out), "--quiet"]
    )
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _scans[id(office)] = (proc, out)
    _, err = proc.communicate(timeout=300)
    _scans.pop(id(office), None)
    if proc.returncode not in (0, 3):  # 3: an incomplete scan, its list marked partial
        tail = err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise LabError(f"camscan scan in the lab failed: {tail[0]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _wait_interrupted(proc: subprocess.Popen[str]) -> None:
    """The scan got Ctrl-C too (same process group) and is writing its partial list: wait.
    If it is still running after a while, the signal went to this process alone: pass it on."""
    for action in (None, signal.SIGINT, signal.SIGKILL):
        if action is not None and proc.poll() is None:
            proc.send_signal(action)
        while True:
            try:
                proc.communicate(timeout=INTERRUPT_GRACE)
                return
            except subprocess.TimeoutExpired:
                break
            except KeyboardInterrupt:
                continue  # a second Ctrl-C: keep waiting for the partial list


INTERRUPT_GRACE = 10.0  # seconds a scan may take to write its partial list


def _nothing(office: Any, mode: str) -> dict[str, Any]:
    """An empty partial device list: interrupted before anything was collected."""
    from camscan.fingerprint.engine import Engine
    from camscan.model import ScanInfo
    from camscan.pipeline import finish

    info = ScanInfo(mode=mode, targets=[office.subnet], modules=[], policy=[])
    info.partial = True
    info.finished_at = time.time()
    return finish([], Engine.load([]), info, None).to_json()


def register(app: typer.Typer) -> None:
    app.command()(demo)
