"""`camscan diff OLD NEW`: what was replaced, what is new, what changed, and which restricted
devices are still there. `--fail-on-restricted` makes it a gate (exit 1 while any remain)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from camscan.diff import diff_device_lists
from camscan.output import dump_json, load_device_list, write_text
from camscan.policy import apply_policy_to_doc
from camscan.report.diffview import diff_markdown, print_diff


class DiffFormat(StrEnum):
    table = "table"
    json = "json"
    md = "md"


def diff(
    old: Annotated[Path, typer.Argument(help="The earlier device list (JSON).", dir_okay=False)],
    new: Annotated[Path, typer.Argument(help="The later device list (JSON).", dir_okay=False)],
    format: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="Output format.")
    ] = DiffFormat.table,
    policy: Annotated[
        str | None,
        typer.Option(help="Re-evaluate both lists under these regime ids before comparing."),
    ] = None,
    fail_on_restricted: Annotated[
        bool, typer.Option(help="Exit 1 while any restricted device remains in NEW.")
    ] = False,
) -> None:
    """Compare two device lists (devices paired by MAC, then serial, then IP)."""
    old_doc = load_device_list(str(old))
    new_doc = load_device_list(str(new))
    if policy is not None:
        old_doc = apply_policy_to_doc(old_doc, policy)
        new_doc = apply_policy_to_doc(new_doc, policy)
    result = diff_device_lists(old_doc, new_doc)
    if format is DiffFormat.json:
        write_text("-", dump_json(result.to_json()))
    elif format is DiffFormat.md:
        write_text("-", diff_markdown(result))
    else:
        print_diff(result, Console(highlight=False, emoji=False))
    if fail_on_restricted and result.restricted_remaining:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(diff)
