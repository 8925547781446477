"""`camscan diff OLD NEW`: what was replaced, what is new, what changed, and which restricted
devices are still there. `--fail-on-restricted` makes it a gate (exit 1 while any remain)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from camscan.commands.options import POLICY_HELP
from camscan.diff import diff_device_lists
from camscan.output import dump_json, load_device_list, write_text
from camscan.policy import apply_policy_to_doc, load_regimes, select_regimes
from camscan.report.diffview import diff_markdown, print_diff
from camscan.report.table import make_console


class DiffFormat(StrEnum):
    table = "table"
    json = "json"
    md = "md"


def diff(
    old: Annotated[
        Path,
        typer.Argument(help="The earlier device list (JSON).", dir_okay=False, metavar="OLD"),
    ],
    new: Annotated[
        Path,
        typer.Argument(help="The later device list (JSON).", dir_okay=False, metavar="NEW"),
    ],
    format: Annotated[
        DiffFormat,
        typer.Option("--format", "-f", help="table (terminal), json or md (Markdown)."),
    ] = DiffFormat.table,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Re-evaluate both lists before comparing. "
            + POLICY_HELP.replace("Default: all", "Default: each list's own"),
            metavar="POLICY",
        ),
    ] = None,
    fail_on_restricted: Annotated[
        bool,
        typer.Option(
            "--fail-on-restricted",
            help="Exit 1 while any restricted device remains in NEW (a gate for CI).",
        ),
    ] = False,
) -> None:
    """Compare two device lists (devices paired by MAC, then serial, then IP)."""
    if policy is not None:
        select_regimes(policy, load_regimes())  # a bad --policy fails before any reading
    old_doc = load_device_list(str(old))
    new_doc = load_device_list(str(new))
    if policy is not None:
        old_doc = apply_policy_to_doc(old_doc, policy)
        new_doc = apply_policy_to_doc(new_doc, policy)
    result = diff_device_lists(old_doc, new_doc)
    applied = _applied(old_doc, new_doc)
    if format is DiffFormat.json:
        write_text("-", dump_json(result.to_json()))
    elif format is DiffFormat.md:
        write_text("-", diff_markdown(result).rstrip("\n") + f"\n\n{applied}\n")
    else:
        console = make_console()
        print_diff(result, console)
        console.print(Text(applied))
    if fail_on_restricted and result.restricted_remaining:
        raise typer.Exit(1)


def _applied(old_doc: dict[str, Any], new_doc: dict[str, Any]) -> str:
    """Which regimes each list was evaluated under."""

    def ids(doc: dict[str, Any]) -> str:
        return ", ".join(map(str, (doc.get("scan") or {}).get("policy") or [])) or "none"

    old, new = ids(old_doc), ids(new_doc)
    return f"policy: {new}" if old == new else f"policy: OLD {old}; NEW {new}"


def register(app: typer.Typer) -> None:
    app.command()(diff)
