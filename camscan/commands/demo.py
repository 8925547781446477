"""`camscan demo`: build the emulated office, scan it with the real scanner, show the result."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from camscan.errors import LabError
from camscan.output import check_writable, write_device_list


def demo(
    output: Annotated[
        str, typer.Option("-o", "--output", help="Where to write the JSON.")
    ] = "devices.json",
    personas: Annotated[
        Path | None, typer.Option(help="Persona file (default: the bundled office).")
    ] = None,
    passive: Annotated[
        bool,
        typer.Option(
            "--passive",
            help="Listen instead of scanning: the devices announce themselves once and "
            "`camscan passive` hears them; nothing is probed.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only write the JSON.")] = False,
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
    with console.status(f"building the office: {len(people)} devices in network namespaces"):
        office = Office(people)
        office.__enter__()
    try:
        doing = "listening to" if passive else "scanning"
        console.print(
            f"lab up in {office.build_seconds:.1f}s, devices ready in {office.ready_seconds:.1f}s; "
            f"{doing} {office.subnet} from namespace {office.lab.scanner_ns}"
        )
        t1 = time.monotonic()
        if passive:
            with console.status("listening while every device announces itself once"):
                doc = office.listen()
        else:
            with console.status("scanning with every module"):
                doc = office.scan()
        scan_seconds = time.monotonic() - t1
        attempts = office.audit()
    finally:
        office.__exit__(None, None, None)
    write_device_list(doc, output)
    if not quiet:
        from camscan.report.table import print_scan_table

        print_scan_table(doc)
    summary = doc["summary"]
    console.print(
        f"{'listening' if passive else 'scan'} took {scan_seconds:.1f}s; "
        f"{summary['total']} devices, "
        f"{summary['surveillance']} surveillance, {summary['restricted']} restricted; "
        f"write or login attempts logged by the lab devices: {len(attempts)}; "
        f"lab torn down; wrote {output} (total {time.monotonic() - t0:.1f}s)"
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
