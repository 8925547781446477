"""`camscan import nmap SCAN.xml [...]`: scans people already have, read into the same device
list as a camscan scan (maker, relabel, regimes, plan), without sending anything."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from camscan.commands.options import (
    CsvOption,
    FingerprintsOption,
    OutputOption,
    PolicyOption,
    QuietOption,
)
from camscan.model import ScanResult

import_app = typer.Typer(
    name="import",
    help="Read scans made by other tools into a camscan device list (sends nothing).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@import_app.command("nmap")
def nmap(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="nmap XML files (-oX) of one network: -sn, -sV, -A, NSE scripts (http-title, "
            "http-server-header, ssl-cert, rtsp-methods, upnp-info, banner, "
            "broadcast-wsdd-discover...). Read together as one scan.",
            dir_okay=False,
            metavar="SCAN.xml",
            show_default=False,
        ),
    ],
    policy: PolicyOption = None,
    fingerprints: FingerprintsOption = None,
    output: OutputOption = None,
    csv: CsvOption = None,
    quiet: QuietOption = False,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Also add the list to this inventory.", metavar="PATH"),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option("--site", help="The inventory site (default: default).", metavar="NAME"),
    ] = None,
) -> None:
    """Turn nmap XML into the camscan device list: the evidence the devices sent (MACs, ports,
    banners, titles, certificates, RTSP and UPnP answers) goes through camscan's fingerprints,
    fusion and policy. nmap's own guesses are kept as notes.

    Without -o, the JSON device list goes to stdout when stdout is not a terminal (a pipe or
    a file) or with -q; in a terminal the table is shown instead."""
    from camscan.fingerprint.engine import Engine
    from camscan.importers.nmap import read_nmap_files
    from camscan.inventory import add_result, check_db
    from camscan.output import (
        check_writable,
        json_destination,
        show_result,
        write_csv,
        write_device_list,
    )
    from camscan.policy import load_regimes, select_regimes

    for path in (output, csv):
        check_writable(path)
    select_regimes(policy, load_regimes())
    check_db(db, site)
    imported = read_nmap_files([str(f) for f in files])
    engine = Engine.load(fingerprints or [])
    result = nmap_result(imported, engine, policy)
    destination = json_destination(output, quiet)
    doc = result.to_json()
    if destination:
        write_device_list(doc, destination)
    if csv:
        write_csv(doc, csv)
    show_result(doc, output=destination, csv=csv, quiet=quiet)
    add_result(result, db, site)


def nmap_result(imported: object, engine: object, policy: str | None) -> ScanResult:
    """The device list of an NmapImport, through the same pipeline as scan and passive."""
    from camscan.fusion import attach_notes
    from camscan.importers.nmap import NmapImport
    from camscan.model import ScanInfo
    from camscan.pipeline import finish

    assert isinstance(imported, NmapImport)
    now = time.time()
    info = ScanInfo(
        mode="active",
        targets=imported.targets or sorted({e.ip for e in imported.evidence if e.ip}),
        modules=["nmap"],
        policy=[],
        started_at=imported.started if imported.started is not None else now,
        finished_at=imported.finished if imported.finished is not None else now,
        warnings=list(imported.warnings),
    )
    result = finish(imported.evidence, engine, info, policy)  # type: ignore[arg-type]
    with_evidence = {d.ip for d in result.devices}
    notes = {ip: list(n) for ip, n in imported.notes.items()}
    for ip in imported.up:
        if ip not in with_evidence:
            notes.setdefault(ip, []).insert(0, "nmap: host up; nothing else seen")
    attach_notes(result.devices, notes, lambda _ip: True)
    for d in result.devices:
        if d.mac and not d.mac_vendor:
            d.mac_vendor = imported.mac_vendors.get(d.mac)
    return result


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
