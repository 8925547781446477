"""`camscan inventory`: every scan of every site in one SQLite file.

camscan inventory add devices.json [...] --site NAME [--db PATH]
camscan inventory report [--site NAME] [--since DATE] [--stale-days N] [--format F]
camscan inventory export [-o FILE] [--site NAME] [--all]
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from camscan.inventory import DEFAULT_DB, DEFAULT_SITE, add_document, added_line, open_inventory
from camscan.output import (
    check_writable,
    dump_json,
    load_device_list,
    write_device_list,
    write_text,
)

inventory_app = typer.Typer(
    name="inventory",
    help=f"Keep every scan of every site in one SQLite file (default {DEFAULT_DB}): add device "
    "lists, report progress (restricted now, replaced, new, stale), export one device list.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DbOption = Annotated[
    str,
    typer.Option("--db", help="The inventory file (SQLite).", metavar="PATH"),
]


class InventoryFormat(StrEnum):
    table = "table"
    md = "md"
    csv = "csv"
    html = "html"
    json = "json"


@inventory_app.command("add")
def add(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="camscan device lists (JSON), e.g. from scan, passive or import.",
            dir_okay=False,
            metavar="DEVICES",
            show_default=False,
        ),
    ],
    site: Annotated[
        str, typer.Option("--site", help="The site these scans were made at.", metavar="NAME")
    ] = DEFAULT_SITE,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add device lists to the inventory, one scan each (the same scan twice is added once).

    Each file is added in its own transaction: interrupted, the inventory stays as it was
    before that file."""
    docs = [(str(f), load_device_list(str(f))) for f in files]  # every file checked first
    conn = open_inventory(db)
    try:
        for name, doc in docs:
            res = add_document(conn, doc, site, source=name)
            sys.stderr.write(f"camscan: {added_line(res, db, name)}\n")
    finally:
        conn.close()


@inventory_app.command("report")
def report(
    db: DbOption = DEFAULT_DB,
    site: Annotated[
        str | None,
        typer.Option("--site", help="Only this site. Default: every site.", metavar="NAME"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Replaced = restricted devices gone since this date; new = first seen since. "
            "Default: replaced = every restricted device gone; new = first seen in its site's "
            "latest round.",
            metavar="DATE",
        ),
    ] = None,
    stale_days: Annotated[
        int, typer.Option(help="Stale = not seen for this many days.", metavar="N")
    ] = 90,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Report as of this date (end of that day, UTC). Default: now.", metavar="DATE"
        ),
    ] = None,
    format: Annotated[
        InventoryFormat,
        typer.Option(
            "--format",
            "-f",
            help="table (terminal tables, plain text in a file), "
            "md (Markdown), csv, html (one self-contained file) or json.",
        ),
    ] = InventoryFormat.table,
    output: Annotated[
        str, typer.Option("-o", "--output", help="Output file ('-' = stdout).", metavar="FILE")
    ] = "-",
    fail_on_new_restricted: Annotated[
        bool,
        typer.Option(
            "--fail-on-new-restricted",
            help="Exit 1 when any restricted device newly appeared (scheduled runs).",
        ),
    ] = False,
) -> None:
    """Progress per site and overall: restricted devices now, replaced, newly appeared
    restricted devices, stale devices, and restricted devices over time."""
    from camscan.inventory.render import RENDERERS, print_report
    from camscan.inventory.report import build_report, parse_when
    from camscan.report.table import make_console

    check_writable(output)
    if stale_days < 0:
        from camscan.errors import UsageError

        raise UsageError("--stale-days must be 0 or more")
    since_t = parse_when(since, "--since") if since else None
    as_of_t = parse_when(as_of, "--as-of", end_of_day=True) if as_of else None
    conn = open_inventory(db, create=False)
    try:
        rep = build_report(conn, as_of=as_of_t, since=since_t, stale_days=stale_days, site=site)
    finally:
        conn.close()
    if format is InventoryFormat.table and output == "-":
        print_report(rep, make_console())
    else:
        write_text(output, RENDERERS[format.value](rep))
    if fail_on_new_restricted and rep.new_restricted:
        sys.stderr.write(
            f"camscan: {len(rep.new_restricted)} restricted device(s) newly appeared\n"
        )
        raise typer.Exit(1)


@inventory_app.command("export")
def export(
    db: DbOption = DEFAULT_DB,
    output: Annotated[
        str, typer.Option("-o", "--output", help="Output file ('-' = stdout).", metavar="FILE")
    ] = "-",
    site: Annotated[
        str | None,
        typer.Option("--site", help="Only this site. Default: every site.", metavar="NAME"),
    ] = None,
    include_gone: Annotated[
        bool,
        typer.Option(
            "--all", help="Also devices no longer present (gone from their site's latest round)."
        ),
    ] = False,
) -> None:
    """Write the inventory as one JSON device list (valid against `camscan schema`): each
    device as last named, with a note of its site and when it was first and last seen."""
    from camscan.inventory.export import export_document
    from camscan.inventory.report import build_report

    check_writable(output)
    conn = open_inventory(db, create=False)
    try:
        if site is not None:
            build_report(conn, site=site)  # an unknown site is a one-line error
        doc = export_document(conn, site=site, include_gone=include_gone)
    finally:
        conn.close()
    if output == "-":
        from camscan.schema import validate_device_list

        validate_device_list(doc, "output")
        write_text("-", dump_json(doc))
    else:
        write_device_list(doc, output)


def register(app: typer.Typer) -> None:
    app.add_typer(inventory_app, name="inventory")
