"""Terminal tables (rich): devices grouped by manufacturer with restricted devices marked, then
the replacement plan. A group whose devices carry notes gets a Notes column (how many) and the
notes listed under its table. Every device value goes through sanitize.rich_text, so rich
markup, escape sequences and control characters in device strings print literally.

No text is ever cut. Rich shrinks a table that is wider than the console by breaking words
("Hikvisio n"); instead, `fit()` gives every column at least its longest word (model and
firmware strings may fold, character by character, past FOLD_MIN) and shares out the rest.
A table that cannot fit even so is shown as one block of "field value" lines per device.
Not a terminal (a pipe, a file): the console is PIPE_WIDTH wide, so tables keep their
natural width and nothing wraps."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from camscan.policy.plan import CONTINGENT, PRIORITY_LABELS, REQUIRED, Plan
from camscan.policy.regimes import Regime
from camscan.report.context import (
    DEVICE_COLUMNS,
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
PIPE_WIDTH = 1000  # not a terminal: lay tables out at their natural width
FOLD_MIN = 12  # model and firmware strings may fold inside a word down to this width
FOLDABLE = frozenset({"Model", "Firmware"})


def make_console(stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or PIPE_WIDTH when not a terminal."""
    console = Console(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def fit(table: Table, console: Console, width: int, foldable: frozenset[str] = FOLDABLE) -> bool:
    """Fix the table's column widths so that it is at most `width` wide and no word is broken
    (except in `foldable` columns, past FOLD_MIN). False when even that is too wide."""
    wide = console.options.update_width(PIPE_WIDTH * 10)
    ranges: list[Measurement] = []
    for i, column in enumerate(table.columns):
        m = table._measure_column(console, wide, column)  # noqa: SLF001 - includes padding
        pad = table._get_padding_width(i)  # noqa: SLF001
        lo = m.minimum
        if str(column.header) in foldable and not column.no_wrap:
            lo = min(lo, FOLD_MIN + pad)
        ranges.append(Measurement(lo, max(lo, m.maximum)))
    extra = table._extra_width  # noqa: SLF001 - borders
    natural = sum(r.maximum for r in ranges) + extra
    if natural <= width:
        return True
    least = sum(r.minimum for r in ranges) + extra
    if least > width:
        return False
    spare = width - least
    wants = [r.maximum - r.minimum for r in ranges]
    total_want = sum(wants)
    widths = [r.minimum for r in ranges]
    for i, want in enumerate(wants):
        share = want * spare // total_want if total_want else 0
        widths[i] += min(want, share)
    for i, column in enumerate(table.columns):
        column.width = max(1, widths[i] - table._get_padding_width(i))  # noqa: SLF001
        column.overflow = "fold"
    return True


BARE = frozenset({"Maker (brand)", "Model", "Firmware", "Type"})


def records(title: Text, rows: list[list[tuple[str, Text]]], bare: frozenset[str] = BARE) -> Table:
    """The narrow form of a table: per row, its first value on the left and the others to
    its right as one paragraph that wraps at word boundaries. Fields named in `bare` are
    shown without their name (a maker, a model: self-explanatory)."""
    table = Table(
        title=title, title_justify="left", box=None, show_header=False, padding=(0, 1, 0, 2)
    )
    table.add_column("key", no_wrap=True)
    table.add_column("fields", overflow="fold")
    for row in rows:
        (_, key), rest = row[0], [(label, value) for label, value in row[1:] if value.plain]
        text = Text()
        for n, (label, value) in enumerate(rest):
            if n:
                text.append("  ")
            if label not in bare:
                text.append(f"{label}: ", style="dim")
            text.append_text(value)
        table.add_row(key, text)
    return table


def _prio_text(p: int | None) -> Text:
    return Text("-" if p is None else str(p), style=PRIORITY_STYLES.get(p or 0, ""))


def _device_cells(d: dict[str, Any]) -> dict[str, Text]:
    restricted = d.get("restricted_by") or []
    style = "red" if restricted else ""
    return {
        "IP": rich_text(d.get("ip"), style),
        "MAC": rich_text(d.get("mac")),
        "Maker (brand)": rich_text(maker(d), style),
        "Model": rich_text(d.get("model")),
        "Firmware": rich_text(d.get("firmware")),
        "Type": rich_text(d.get("device_type")),
        "Restricted by": rich_text(", ".join(restricted), "bold red" if restricted else ""),
        "Known exploited": rich_text(cves(d), "bold red" if d.get("vulnerabilities") else ""),
        "Prio": _prio_text(priority(d)),
        "Notes": Text(str(len(notes(d))) if notes(d) else "", style="yellow"),
    }


def device_tables(
    ctx: ReportContext, width: int = PIPE_WIDTH, console: Console | None = None
) -> list[Table]:
    """One table per manufacturer, every column kept; a group too wide for `width` even with
    its words whole is shown as one block of lines per device."""
    console = console or Console(width=width, file=io.StringIO(), color_system=None)
    tables = []
    for group in ctx.groups:
        with_notes = any(notes(d) for d in group.devices)
        title = Text(f"{group.manufacturer}", style="bold")
        title.append(f" — {len(group.devices)} device(s)")
        if group.restricted:
            title.append(f", {group.restricted} RESTRICTED", style="bold red")
        if group.not_surveillance:
            title.append(f", {group.not_surveillance} not surveillance")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=False)
        group_cols = [*DEVICE_COLUMNS, "Notes"] if with_notes else list(DEVICE_COLUMNS)
        for col in group_cols:
            table.add_column(col, no_wrap=col in ("IP", "MAC", "Prio", "Notes"))
        rows = [_device_cells(d) for d in group.devices]
        for cells in rows:
            table.add_row(*(cells[c] for c in group_cols))
        if not fit(table, console, width):
            order = ["IP", "Maker (brand)", "Model", "Firmware", "Type", "MAC", "Restricted by"]
            order += ["Known exploited", "Prio", *(["Notes"] if with_notes else [])]
            table = records(title, [[(c, cells[c]) for c in order] for cells in rows])
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


def plan_table(plan: Plan, width: int = PIPE_WIDTH, console: Console | None = None) -> Table:
    title = Text("Replacement plan", style="bold")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    costs = ("Unit cost", "Cost") if plan.priced else ()
    cols = ("Prio", "Count", "Maker (brand)", "Model", "Type", *costs, "Why")
    for col in cols:
        justify = "right" if col in ("Count", "Unit cost", "Cost") else "left"
        table.add_column(col, justify=justify)
    rows = []
    for row in plan.rows:
        d = {"manufacturer": row.manufacturer, "brand": row.brand}
        cost = [Text(money(row.unit_cost)), Text(money(row.cost))] if plan.priced else []
        cells = [
            _prio_text(row.priority),
            Text(str(row.count)),
            rich_text(maker(d)),
            rich_text(row.model),
            rich_text(row.device_type),
            *cost,
            rich_text("; ".join(row.reasons), limit=4000),
        ]
        rows.append(cells)
        table.add_row(*cells)
    console = console or Console(width=width, file=io.StringIO(), color_system=None)
    if not fit(table, console, width, foldable=frozenset({"Model"})):
        return records(title, [list(zip(cols, cells, strict=True)) for cells in rows])
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


def listed_line(ctx: ReportContext) -> str:
    """How the devices split between the tables by maker and the rest, in the header's terms."""
    surveillance = ctx.summary.get("surveillance", 0)
    extra = ctx.listed - surveillance
    line = f"by maker below: {ctx.listed}"
    if extra:
        line += (
            f" ({surveillance} surveillance + {extra} restricted or to review, not surveillance)"
        )
    if ctx.others:
        line += f"; {len(ctx.others)} other device(s) only in the JSON and CSV"
    return line


def render(ctx: ReportContext, console: Console) -> None:
    scan, summary = ctx.scan, ctx.summary
    head = Text("camscan report", style="bold")
    head.append(
        f" — {summary.get('total', 0)} devices, {summary.get('surveillance', 0)} surveillance, "
    )
    head.append(f"{summary.get('restricted', 0)} restricted", style="bold red")
    console.print(head)
    console.print(Text(listed_line(ctx)))
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
    for group, table in zip(ctx.groups, device_tables(ctx, console.width, console), strict=True):
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
    console.print(plan_table(ctx.plan, console.width, console))
    if ctx.plan.locations:
        console.print(location_table(ctx.plan))
    console.print(plan_summary(ctx.plan))


def print_scan_table(
    doc: dict[str, Any],
    console: Console | None = None,
    prices: dict[str, float] | None = None,
) -> None:
    """The table and the plan of a device list, to the terminal (stdout by default)."""
    render(build_context(doc, prices), console or make_console())


def table_text(
    doc: dict[str, Any], prices: dict[str, float] | None = None, width: int = PIPE_WIDTH
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
