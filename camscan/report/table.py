"""Terminal tables (rich): devices grouped by manufacturer with restricted devices marked, then
the replacement plan. A group whose devices carry notes gets a Notes column (how many) and the
notes listed under its table. Every device value goes through sanitize.rich_text, so rich
markup, escape sequences and control characters in device strings print literally."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from camscan.policy.plan import CONTINGENT, PRIORITY_LABELS, REQUIRED, Plan
from camscan.policy.regimes import Regime
from camscan.report.context import (
    ReportContext,
    build_context,
    cves,
    maker,
    money,
    notes,
    priority,
)
from camscan.report.sanitize import rich_text

PRIORITY_STYLES = {1: "bold red", 2: "red", 3: "yellow", 4: "magenta", 5: "green"}


def _prio_text(p: int | None) -> Text:
    return Text("-" if p is None else str(p), style=PRIORITY_STYLES.get(p or 0, ""))


def device_tables(ctx: ReportContext, width: int = 160) -> list[Table]:
    """One table per manufacturer; narrow terminals drop the MAC and type columns."""
    wide = width >= 120
    cols = [
        "IP",
        "MAC",
        "Maker (brand)",
        "Model",
        "Firmware",
        "Type",
        "Restricted by",
        "Known exploited",
        "Prio",
    ]
    if not wide:
        cols = [c for c in cols if c not in ("MAC", "Type")]
    tables = []
    for group in ctx.groups:
        with_notes = any(notes(d) for d in group.devices)
        title = Text(f"{group.manufacturer}", style="bold")
        title.append(f" — {len(group.devices)} device(s)")
        if group.restricted:
            title.append(f", {group.restricted} RESTRICTED", style="bold red")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=False)
        group_cols = [*cols, "Notes"] if with_notes else cols
        for col in group_cols:
            no_wrap = col in ("IP", "MAC", "Prio", "Notes")
            table.add_column(
                col, overflow="fold", no_wrap=no_wrap, min_width=15 if col == "IP" else None
            )
        for d in group.devices:
            restricted = d.get("restricted_by") or []
            style = "red" if restricted else ""
            cells = {
                "IP": rich_text(d.get("ip"), style),
                "MAC": rich_text(d.get("mac")),
                "Maker (brand)": rich_text(maker(d), style),
                "Model": rich_text(d.get("model")),
                "Firmware": rich_text(d.get("firmware"), limit=60),
                "Type": rich_text(d.get("device_type")),
                "Restricted by": rich_text(", ".join(restricted), "bold red" if restricted else ""),
                "Known exploited": rich_text(
                    cves(d), "bold red" if d.get("vulnerabilities") else ""
                ),
                "Prio": _prio_text(priority(d)),
                "Notes": Text(str(len(notes(d))) if notes(d) else "", style="yellow"),
            }
            table.add_row(*(cells[c] for c in group_cols))
        tables.append(table)
    return tables


def notes_table(devices: list[dict[str, Any]]) -> Table | None:
    """The notes of the devices that have any, under their IP; None when none has."""
    noted = [d for d in devices if notes(d)]
    if not noted:
        return None
    table = Table(
        title=Text("Notes", style="yellow"),
        title_justify="left",
        box=None,
        show_header=False,
        padding=(0, 1, 0, 2),
    )
    table.add_column("IP", no_wrap=True, min_width=15)
    table.add_column("Note", overflow="fold")
    for d in noted:
        for i, note in enumerate(notes(d)):
            table.add_row(rich_text(d.get("ip")) if i == 0 else Text(""), rich_text(note))
    return table


def plan_table(plan: Plan) -> Table:
    table = Table(
        title=Text("Replacement plan", style="bold"), title_justify="left", box=box.SIMPLE_HEAD
    )
    costs = ("Unit cost", "Cost") if plan.priced else ()
    for col in ("Prio", "Count", "Maker (brand)", "Model", "Type", *costs, "Why"):
        justify = "right" if col in ("Count", "Unit cost", "Cost") else "left"
        table.add_column(
            col, justify=justify, overflow="fold", min_width=30 if col == "Why" else None
        )
    for row in plan.rows:
        d = {"manufacturer": row.manufacturer, "brand": row.brand}
        cost = [Text(money(row.unit_cost)), Text(money(row.cost))] if plan.priced else []
        table.add_row(
            _prio_text(row.priority),
            Text(str(row.count)),
            rich_text(maker(d)),
            rich_text(row.model),
            rich_text(row.device_type),
            *cost,
            rich_text("; ".join(row.reasons), limit=300),
        )
    return table


def location_table(plan: Plan) -> Table:
    table = Table(
        title=Text("By location", style="bold"), title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("Location (subnet)")
    for p in PRIORITY_LABELS:
        table.add_column(f"P{p}", justify="right")
    table.add_column("Total", justify="right")
    for loc in plan.locations:
        table.add_row(
            rich_text(loc.location),
            *(
                Text(str(loc.counts.get(p, "")) if loc.counts.get(p) else "")
                for p in PRIORITY_LABELS
            ),
            Text(str(loc.total)),
        )
    return table


def plan_summary(plan: Plan) -> Text:
    text = Text()
    for p, label in PRIORITY_LABELS.items():
        text.append(f"P{p} {label}: ", style=PRIORITY_STYLES[p])
        text.append(f"{plan.counts.get(p, 0)}\n")
    if plan.priced:
        text.append(f"Budget, must replace (P{REQUIRED[0]}-P{REQUIRED[-1]}): ", style="bold")
        text.append(f"{money(plan.required_total)}\n")
        text.append(
            f"Budget, if verification/review confirms (P{CONTINGENT[0]}-P{CONTINGENT[-1]}): "
        )
        text.append(f"{money(plan.contingent_total)}\n")
        missing = sum(plan.unpriced.get(p, 0) for p in (*REQUIRED, *CONTINGENT))
        if missing:
            text.append(f"{missing} device(s) to replace or review have no price\n", style="yellow")
    return text


def _regime_line(ref_id: str, regime: Regime | None) -> Text:
    if regime is None:
        return rich_text(f"{ref_id} (unknown to this camscan)")
    return rich_text(
        f"{regime.id}: {regime.name} ({regime.date}; {', '.join(regime.manufacturers)})"
    )


def render(ctx: ReportContext, console: Console) -> None:
    scan, summary = ctx.scan, ctx.summary
    head = Text("camscan report", style="bold")
    head.append(
        f" — {summary.get('total', 0)} devices, {summary.get('surveillance', 0)} surveillance, "
    )
    head.append(f"{summary.get('restricted', 0)} restricted", style="bold red")
    console.print(head)
    console.print(
        rich_text(
            f"scan {scan.get('started_at', '?')} ({scan.get('mode', '?')}), "
            f"targets: {', '.join(map(str, scan.get('targets') or [])) or '-'}",
            limit=300,
        )
    )
    if scan.get("partial"):
        console.print(Text("partial scan: interrupted before it finished", style="yellow"))
    console.print(Text("policy:", style="bold"))
    for ref in ctx.regimes:
        console.print(Text("  ") + _regime_line(ref.id, ref.regime))
    console.print()
    for group, table in zip(ctx.groups, device_tables(ctx, console.width), strict=True):
        console.print(table)
        if listed := notes_table(group.devices):
            console.print(listed)
            console.print()
    if ctx.others:
        console.print(
            Text(
                f"{len(ctx.others)} other device(s) (not surveillance, not covered) "
                "are in the JSON and CSV outputs",
                style="dim",
            )
        )
    console.print(plan_table(ctx.plan))
    if ctx.plan.locations:
        console.print(location_table(ctx.plan))
    console.print(plan_summary(ctx.plan))


def print_scan_table(
    doc: dict[str, Any],
    console: Console | None = None,
    prices: dict[str, float] | None = None,
) -> None:
    """The table and the plan of a device list, to the terminal (stdout by default)."""
    render(build_context(doc, prices), console or Console(highlight=False, emoji=False))


def table_text(
    doc: dict[str, Any], prices: dict[str, float] | None = None, width: int = 160
) -> str:
    """The same, as plain text (for `-o FILE`)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system=None,
        highlight=False,
        emoji=False,
        force_terminal=False,
        legacy_windows=False,
    )
    render(build_context(doc, prices), console)
    return buf.getvalue()
