"""`camscan policy list`: the regimes camscan knows, with their scope, coverage and sources."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from camscan.output import dump_json, write_text
from camscan.policy import load_regimes
from camscan.policy.regimes import jurisdictions
from camscan.report.table import make_console


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def list_regimes(
    format: Annotated[
        ListFormat,
        typer.Option("--format", "-f", help="table (terminal) or json (with every source)."),
    ] = ListFormat.table,
) -> None:
    """List the policy regimes: the ids and countries --policy accepts."""
    regimes = load_regimes()
    if format is ListFormat.json:
        write_text("-", dump_json({"regimes": [r.to_json() for r in regimes.values()]}))
        return
    console = make_console()
    for r in regimes.values():
        covers = ", ".join(r.manufacturers)
        extras = [
            w
            for w, on in (
                ("subsidiaries and affiliates", r.subsidiaries_and_affiliates),
                ("relabels", r.relabels),
            )
            if on
        ]
        if extras:
            covers += f" (+ {', '.join(extras)})"
        if r.surveillance_only:
            covers += "; surveillance devices only"
        if r.producer_country:
            covers += f"; other {r.producer_country} makers flagged for review"
        head = Text(r.id, style="bold")
        head.append(f"  {r.name}  ")
        head.append(f"({r.date}, {r.jurisdiction}, {r.kind})", style="dim")
        console.print(head)
        console.print(Text(f"  scope:   {', '.join(r.scope)}"))
        console.print(Text(f"  covers:  {covers}"))
        console.print(
            Text(
                f"  source:  {r.sources[0]}"
                + (f" (+{len(r.sources) - 1} more: --format json)" if len(r.sources) > 1 else "")
            )
        )
        console.print()
    by_country = jurisdictions(regimes)
    console.print(
        Text(
            "--policy takes 'all' (the default), regime ids, or a country: "
            + "; ".join(f"{w} = {', '.join(ids)}" for w, ids in by_country.items() if w != "gb")
        )
    )


def register(app: typer.Typer) -> None:
    policy_app = typer.Typer(help="Restriction regimes camscan applies.", no_args_is_help=True)
    policy_app.command("list")(list_regimes)
    app.add_typer(policy_app, name="policy")
