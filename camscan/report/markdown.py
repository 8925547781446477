"""The report as Markdown (GitHub flavour): summary, policy, the plan, devices by manufacturer
(each group's device notes listed under its table). Device values go through sanitize.md_text,
so they cannot open HTML, links or table cells."""

from __future__ import annotations

from typing import Any

from camscan.policy.plan import CONTINGENT, PRIORITY_LABELS, REQUIRED
from camscan.report.context import (
    DEVICE_COLUMNS,
    ReportContext,
    cves,
    maker,
    money,
    notes,
    priority,
)
from camscan.report.sanitize import md_text as md


def _table(head: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    out = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|",
    ]
    out += ["| " + " | ".join(c or " " for c in row) + " |" for row in rows]
    return [*out, ""]


def _notes_table(devices: list[dict[str, Any]]) -> list[str]:
    """The notes of the devices that have any, as a table (cells keep device text inline: in a
    list item it could start a heading or a list)."""
    rows = [
        [md(d.get("ip")) if i == 0 else "", md(note)]
        for d in devices
        for i, note in enumerate(notes(d))
    ]
    return ["**Notes**", "", *_table(["IP", "Note"], rows)] if rows else []


def _device_rows(devices: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for d in devices:
        restricted = ", ".join(d.get("restricted_by") or [])
        p = priority(d)
        rows.append(
            [
                md(d.get("ip")),
                md(d.get("mac")),
                md(maker(d)),
                md(d.get("model")),
                md(d.get("firmware"), 80),
                md(d.get("device_type")),
                f"**{md(restricted)}**" if restricted else "",
                md(cves(d)),
                f"P{p}" if p else "",
                str(len(d.get("evidence") or [])),
                str(len(notes(d)) or ""),
            ]
        )
    return rows


def render_markdown(ctx: ReportContext) -> str:
    scan, s, plan = ctx.scan, ctx.summary, ctx.plan
    targets = ", ".join(map(str, scan.get("targets") or [])) or "-"
    lines = [
        "# camscan report",
        "",
        f"{md(scan.get('mode'))} scan {md(scan.get('started_at'))} – "
        f"{md(scan.get('finished_at'))}; targets: {md(targets)}",
        "",
        f"- Devices: {s.get('total', 0)}; surveillance: {s.get('surveillance', 0)}; "
        f"**restricted: {s.get('restricted', 0)}**",
    ]
    if scan.get("partial"):
        lines.append("- **Partial scan**: interrupted before it finished")
    lines += ["", "## Policy", ""]
    rows = []
    for ref in ctx.regimes:
        r = ref.regime
        if r is None:
            rows.append([md(ref.id), "not known to this camscan", "", "", "", ""])
            continue
        name = md(r.name) + (" (watch list)" if r.is_watch else "")
        covers = md(", ".join(r.manufacturers)) + (" + relabels" if r.relabels else "")
        srcs = " ".join(f"[{i}](<{u}>)" for i, u in enumerate(r.sources, 1))
        rows.append([f"`{r.id}`", name, r.date, md(", ".join(r.scope)), covers, srcs])
    lines += _table(["Id", "Regime", "Date", "Scope", "Covers", "Sources"], rows)

    lines += ["## Replacement plan", ""]
    priced = plan.priced
    rows = [
        [f"P{p}", md(label), str(plan.counts.get(p, 0))]
        + ([money(plan.budget.get(p, 0.0))] if priced else [])
        for p, label in PRIORITY_LABELS.items()
    ]
    lines += _table(["Priority", "Meaning", "Devices", *(["Cost"] if priced else [])], rows, {2, 3})
    if plan.priced:
        missing = sum(plan.unpriced.get(p, 0) for p in (*REQUIRED, *CONTINGENT))
        lines += [
            f"**Budget, must replace (P1-P2): {money(plan.required_total)}**; "
            f"if verification or review confirms (P3-P4): {money(plan.contingent_total)}."
            + (f" {missing} device(s) to replace or review have no price." if missing else ""),
            "",
        ]
    rows = [
        [
            f"P{r.priority}",
            str(r.count),
            md(maker({"manufacturer": r.manufacturer, "brand": r.brand})),
            md(r.model),
            md(r.device_type),
            *([money(r.unit_cost), money(r.cost)] if priced else []),
            md("; ".join(r.reasons), 600),
        ]
        for r in plan.rows
    ]
    lines += ["### What to replace", ""]
    costs = ["Unit", "Cost"] if priced else []
    head = ["Prio", "Count", "Maker (brand)", "Model", "Type", *costs, "Why"]
    lines += _table(head, rows, {1, 5, 6} if priced else {1})
    lines += ["### By location", ""]
    rows = [
        [md(loc.location), *(str(loc.counts.get(p) or "") for p in PRIORITY_LABELS), str(loc.total)]
        for loc in plan.locations
    ]
    lines += _table(
        ["Location (subnet)", *(f"P{p}" for p in PRIORITY_LABELS), "Total"], rows, set(range(1, 7))
    )

    lines += ["## Devices", ""]
    head = [*DEVICE_COLUMNS, "Evidence", "Notes"]
    for g in ctx.groups:
        flag = f", **{g.restricted} restricted**" if g.restricted else ""
        lines += [f"### {md(g.manufacturer)} ({len(g.devices)}{flag})", ""]
        lines += _table(head, _device_rows(g.devices))
        lines += _notes_table(g.devices)
    if ctx.others:
        lines += [f"### Other devices ({len(ctx.others)}): not surveillance, not covered", ""]
        lines += _table(head, _device_rows(ctx.others))
        lines += _notes_table(ctx.others)
    return "\n".join(lines).rstrip() + "\n"
