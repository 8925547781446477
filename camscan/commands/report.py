"""`camscan report`: a device list as terminal tables, CSV, Markdown or one HTML file, with the
replacement plan; optionally re-evaluated under other regimes and costed from a price list."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from camscan.commands.options import POLICY_HELP
from camscan.output import check_writable, load_device_list, write_text
from camscan.policy import apply_policy_to_doc, load_prices, load_regimes, select_regimes
from camscan.report import render_report
from camscan.report.table import make_console, print_scan_table


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    md = "md"
    html = "html"


def report(
    devices: Annotated[
        Path,
        typer.Argument(help="A camscan device list (JSON).", dir_okay=False, metavar="DEVICES"),
    ],
    format: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            "-f",
            help="table (terminal tables, plain text in a file), csv, md (Markdown) or html "
            "(one self-contained file).",
        ),
    ] = ReportFormat.table,
    output: Annotated[
        str, typer.Option("-o", "--output", help="Output file ('-' = stdout).", metavar="FILE")
    ] = "-",
    policy: Annotated[
        str | None,
        typer.Option(
            help="Re-evaluate under other regimes. "
            + POLICY_HELP.replace("Default: all", "Default: the list's own"),
            metavar="POLICY",
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            help="Price CSV: 'model,unit_cost' or 'device_type,unit_cost'. Default: no costs.",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Report a device list with its replacement plan."""
    check_writable(output)
    if policy is not None:
        select_regimes(policy, load_regimes())  # a bad --policy fails before any reading
    doc = load_device_list(str(devices))
    price_list = load_prices(str(prices)) if prices is not None else None
    if policy is not None:
        doc = apply_policy_to_doc(doc, policy)
    if format is ReportFormat.table and output == "-":
        print_scan_table(doc, make_console(), prices=price_list)
        return
    write_text(output, render_report(doc, format.value, price_list))


def register(app: typer.Typer) -> None:
    app.command()(report)
