"""`camscan inventory report` in every format: terminal tables (plain text in a file),
Markdown, CSV, JSON and one self-contained HTML file with an inline SVG chart of restricted
devices over time. Every device string goes through camscan.report.sanitize."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from camscan import __version__
from camscan.inventory.report import DeviceRow, InventoryReport, Point, SiteSummary
from camscan.report.html import CSP, CSS
from camscan.report.sanitize import html_text as esc
from camscan.report.sanitize import md_text as md
from camscan.report.sanitize import rich_text, visible

FORMATS = ("table", "md", "csv", "html", "json")
SHOWN = 200  # devices listed per section in table, Markdown and HTML (CSV and JSON: all)
SITE_COLS = ("Site", "Scans", "Last scan", "Round", "Devices", "Restricted now", "Replaced",
             "New restricted", "Stale")  # fmt: skip
DEVICE_COLS = ("Site", "IP", "MAC", "Maker (brand)", "Model", "Firmware", "Restricted by",
               "Prio", "First seen", "Last seen")  # fmt: skip
CSV_COLS = ("section", "site", "device_id", "ip", "mac", "manufacturer", "brand", "model",
            "firmware", "device_type", "restricted_by", "priority", "first_seen", "last_seen",
            "present", "sites")  # fmt: skip


def sections(r: InventoryReport) -> list[tuple[str, str, list[DeviceRow]]]:
    since = f" since {r.since[:10]}" if r.since else ""
    new_since = f" since {r.since[:10]}" if r.since else " in the latest round"
    return [
        ("restricted_now", "Restricted devices now", r.restricted_now),
        ("new_restricted", f"Newly appeared restricted devices{new_since}", r.new_restricted),
        ("replaced", f"Replaced: restricted devices gone{since}", r.replaced),
        ("stale", f"Stale: not seen for {r.stale_days} days", r.stale),
    ]


def headline(r: InventoryReport) -> str:
    o = r.overall
    return (
        f"camscan inventory — {o.name}, as of {r.as_of[:10]}: {o.devices} devices present, "
        f"{o.restricted_now} restricted, {o.replaced} replaced, {o.new_restricted} new "
        f"restricted, {o.stale} stale ({len(r.sites)} site(s), {o.scans} scan(s))"
    )


def _maker(d: DeviceRow) -> str:
    if d.brand and d.manufacturer and d.brand != d.manufacturer:
        return f"{d.manufacturer} ({d.brand})"
    return d.manufacturer or d.brand or ""


def _cells(d: DeviceRow) -> list[str]:
    return [
        d.site, d.ip or "", d.mac or "", _maker(d), d.model or "", d.firmware or "",
        ", ".join(d.restricted_by), "" if d.priority is None else str(d.priority),
        d.first_seen[:10], d.last_seen[:10],
    ]  # fmt: skip


def _site_cells(s: SiteSummary) -> list[str]:
    return [
        s.name, str(s.scans), (s.last_scan or "-")[:10], s.round_day or "-", str(s.devices),
        str(s.restricted_now), str(s.replaced), str(s.new_restricted), str(s.stale),
    ]  # fmt: skip


# -- terminal ---------------------------------------------------------------------------------
def print_report(r: InventoryReport, console: Console) -> None:
    console.print(Text(headline(r), style="bold"))
    if r.policy:
        console.print(Text(f"policy: {', '.join(r.policy)}"))
    if pace := r.pace():
        console.print(Text(f"pace: {pace}"))
    table = Table(title=Text("Sites", style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
    for col in SITE_COLS:
        table.add_column(
            col, justify="right" if col not in ("Site", "Last scan", "Round") else "left"
        )
    for s in [*r.sites, r.overall] if len(r.sites) > 1 else r.sites:
        table.add_row(*(rich_text(c) for c in _site_cells(s)))
    console.print(table)
    for _, title, rows in sections(r):
        style = "bold red" if rows and "Restricted" in title else "bold"
        table = Table(
            title=Text(f"{title} ({len(rows)})", style=style),
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for col in DEVICE_COLS:
            table.add_column(col, overflow="fold")
        for d in rows[:SHOWN]:
            table.add_row(*(rich_text(c) for c in _cells(d)))
        if rows:
            console.print(table)
            if len(rows) > SHOWN:
                console.print(Text(f"... and {len(rows) - SHOWN} more (all in --format csv/json)"))
        else:
            console.print(Text(f"{title}: none", style="bold"))
    if r.series:
        console.print(Text("Restricted devices over time", style="bold"))
        for p in r.series:
            console.print(Text(f"  {p.day}  {p.total}"))


def table_text(r: InventoryReport) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=200, highlight=False, emoji=False, color_system=None)
    print_report(r, console)
    return buf.getvalue()


# -- Markdown ---------------------------------------------------------------------------------
def render_markdown(r: InventoryReport) -> str:
    lines = ["# camscan inventory", "", md(headline(r)), ""]
    if r.policy:
        lines += [f"Policy: {md(', '.join(r.policy))}", ""]
    if pace := r.pace():
        lines += [f"Pace: {md(pace)}", ""]
    lines += ["## Sites", "", "| " + " | ".join(SITE_COLS) + " |", "|" + "---|" * len(SITE_COLS)]
    for s in [*r.sites, r.overall] if len(r.sites) > 1 else r.sites:
        lines.append("| " + " | ".join(md(c) for c in _site_cells(s)) + " |")
    lines.append("")
    for _, title, rows in sections(r):
        lines += [f"## {md(title)} ({len(rows)})", ""]
        if rows:
            lines += ["| " + " | ".join(DEVICE_COLS) + " |", "|" + "---|" * len(DEVICE_COLS)]
            lines += [
                "| " + " | ".join(md(c) or " " for c in _cells(d)) + " |" for d in rows[:SHOWN]
            ]
            if len(rows) > SHOWN:
                lines += ["", f"... and {len(rows) - SHOWN} more (all in the CSV and JSON)"]
            lines.append("")
    if r.series:
        lines += ["## Restricted devices over time", "", "| Day | Restricted |", "|---|---:|"]
        lines += [f"| {p.day} | {p.total} |" for p in r.series]
    return "\n".join(lines).rstrip() + "\n"


# -- CSV and JSON ---------------------------------------------------------------------------
def _csv_cell(value: object) -> str:
    text = visible("" if value is None else value, 8192)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def render_csv(r: InventoryReport) -> str:
    """One row per device per section (a device can be both restricted now and new)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLS)
    for key, _, rows in sections(r):
        for d in rows:
            writer.writerow(
                _csv_cell(v)
                for v in (
                    key, d.site, d.id, d.ip, d.mac, d.manufacturer, d.brand, d.model, d.firmware,
                    d.device_type, ";".join(d.restricted_by), d.priority, d.first_seen,
                    d.last_seen, "true" if d.present else "false", ";".join(d.sites),
                )
            )  # fmt: skip
    return buf.getvalue()


def render_json(r: InventoryReport) -> str:
    return json.dumps(r.to_json(), indent=2, ensure_ascii=False) + "\n"


# -- HTML -----------------------------------------------------------------------------------
COLOURS = ("#c0392b", "#2b5d99", "#3d8b5a", "#e6a21a", "#9b6cc4", "#1f8a8a", "#8c5a3c")
MAX_SITE_LINES = 6


def line_chart(series: list[Point], width: int = 760, height: int = 280) -> str:
    """Restricted devices on each scan day: the total, and the largest sites, as lines."""
    if not series:
        return '<p class="muted">No scans to chart.</p>'
    left, right, top, bottom = 56, 170, 16, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    biggest = max(1, max(p.total for p in series))
    step = plot_w / max(1, len(series) - 1)

    def x(i: int) -> float:
        return left + (i * step if len(series) > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / biggest

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Restricted devices over time">'
    ]
    for k in range(5):  # grid and y labels
        v = round(biggest * k / 4)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'stroke="#d9dee5"/><text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" '
            f'class="num">{v}</text>'
        )
    every = max(1, len(series) // 8)
    for i, p in enumerate(series):
        if i % every == 0 or i == len(series) - 1:
            out.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" '
                f'class="lbl">{esc(p.day)}</text>'
            )
    totals = {
        name: max(p.by_site.get(name, 0) for p in series) for p in series for name in p.by_site
    }
    sites = sorted(totals, key=lambda n: (-totals[n], n.casefold()))[:MAX_SITE_LINES]
    lines: list[tuple[str, list[int], str, float]] = [
        ("all sites", [p.total for p in series], "#1d2530", 3.0)
    ]
    if len(totals) > 1:
        lines += [
            (name, [p.by_site.get(name, 0) for p in series], COLOURS[i % len(COLOURS)], 1.5)
            for i, name in enumerate(sites)
        ]
    for n, (name, values, colour, w) in enumerate(lines):
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="{w}"/>')
        for i, v in enumerate(values):
            out.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{w + 1}" fill="{colour}">'
                f"<title>{esc(name, 60)} {esc(series[i].day)}: {v}</title></circle>"
            )
        ly = top + 8 + n * 18
        out.append(
            f'<rect x="{left + plot_w + 14}" y="{ly - 9}" width="12" height="12" '
            f'fill="{colour}"/><text x="{left + plot_w + 30}" y="{ly + 1}" class="leg">'
            f"{esc(name, 22)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _html_table(head: tuple[str, ...], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><tr>{th}</tr>{body}</table>"


def render_html(r: InventoryReport) -> str:
    o = r.overall
    cards = [
        ("devices present", o.devices, ""),
        ("restricted now", o.restricted_now, "bad" if o.restricted_now else ""),
        ("replaced", o.replaced, ""),
        ("new restricted", o.new_restricted, "bad" if o.new_restricted else ""),
        (f"stale ({r.stale_days} days)", o.stale, ""),
        ("sites", len(r.sites), ""),
    ]
    card_html = "".join(
        f'<div class="card {cls}"><b>{esc(v)}</b><span>{esc(label)}</span></div>'
        for label, v, cls in cards
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>camscan inventory</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>camscan inventory</h1>",
        f"<p>{esc(headline(r), 1000)}</p></header><main>",
        f'<div class="cards">{card_html}</div>',
    ]
    if r.policy:
        parts.append(f'<p class="muted">policy: {esc(", ".join(r.policy), 1000)}</p>')
    parts.append("<h2>Restricted devices over time</h2>")
    parts.append(line_chart(r.series))
    if pace := r.pace():
        parts.append(f"<p>{esc(pace, 1000)}</p>")
    sites = [*r.sites, r.overall] if len(r.sites) > 1 else r.sites
    parts.append("<h2>Sites</h2>")
    parts.append(_html_table(SITE_COLS, [_site_cells(s) for s in sites], "compact sites"))
    for key, title, rows in sections(r):
        parts.append(f'<h2 id="{key}">{esc(title)} ({len(rows)})</h2>')
        if not rows:
            parts.append('<p class="muted">None.</p>')
            continue
        parts.append(_html_table(DEVICE_COLS, [_cells(d) for d in rows[:SHOWN]], "devices"))
        if len(rows) > SHOWN:
            parts.append(
                f'<p class="muted">... and {len(rows) - SHOWN} more (all in --format csv '
                "or json)</p>"
            )
    parts.append(
        f"<footer>camscan {esc(__version__)} inventory report, as of {esc(r.as_of)}</footer>"
        "</main></body></html>"
    )
    return "\n".join(parts) + "\n"


RENDERERS: dict[str, Callable[[InventoryReport], str]] = {
    "table": table_text,
    "md": render_markdown,
    "csv": render_csv,
    "html": render_html,
    "json": render_json,
}
