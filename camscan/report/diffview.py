"""Showing a scan-to-scan diff: terminal tables and Markdown (JSON is DiffResult.to_json)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from camscan.diff import DiffResult
from camscan.report.context import maker
from camscan.report.sanitize import md_text as md
from camscan.report.sanitize import rich_text

_COLS = ("IP", "MAC", "Maker (brand)", "Model", "Firmware", "Restricted by")


def _cells(d: dict[str, Any]) -> list[str]:
    return [
        d.get("ip") or "",
        d.get("mac") or "",
        maker(d),
        d.get("model") or "",
        d.get("firmware") or "",
        ", ".join(d.get("restricted_by") or []),
    ]


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def _headline(result: DiffResult) -> str:
    return (
        f"{len(result.removed)} removed, {len(result.added)} added, {len(result.changed)} changed, "
        f"{result.unchanged} unchanged; {len(result.restricted_remaining)} restricted still present"
    )


def print_diff(result: DiffResult, console: Console) -> None:
    console.print(Text(_headline(result), style="bold"))
    if result.policy_differs:
        console.print(
            Text(
                f"note: the lists were evaluated under different policies "
                f"(old: {', '.join(result.old_policy)}; new: {', '.join(result.new_policy)}); "
                "use --policy to compare like with like",
                style="yellow",
            )
        )
    for title, devs, style in (
        ("Removed", result.removed, "green"),
        ("Added", result.added, "cyan"),
        ("Restricted still present", result.restricted_remaining, "red"),
    ):
        if not devs:
            continue
        table = Table(
            title=Text(f"{title} ({len(devs)})", style=f"bold {style}"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for col in _COLS:
            table.add_column(col, overflow="fold")
        for d in devs:
            table.add_row(*(rich_text(c) for c in _cells(d)))
        console.print(table)
    if result.changed:
        table = Table(
            title=Text(f"Changed ({len(result.changed)})", style="bold yellow"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for col in ("IP", "MAC", "Matched by", "Field", "Old", "New"):
            table.add_column(col, overflow="fold")
        for c in result.changed:
            first = True
            for name, (a, b) in c.fields.items():
                table.add_row(
                    rich_text(c.new.get("ip") if first else ""),
                    rich_text((c.new.get("mac") or c.old.get("mac")) if first else ""),
                    rich_text(c.matched_by if first else ""),
                    rich_text(name),
                    rich_text(_show(a)),
                    rich_text(_show(b)),
                )
                first = False
        console.print(table)


def diff_markdown(result: DiffResult) -> str:
    lines = ["# camscan diff", "", md(_headline(result)), ""]
    if result.policy_differs:
        lines += [
            f"Note: different policies (old: {md(', '.join(result.old_policy))}; "
            f"new: {md(', '.join(result.new_policy))}).",
            "",
        ]
    for title, devs in (
        ("Removed", result.removed),
        ("Added", result.added),
        ("Restricted still present", result.restricted_remaining),
    ):
        lines += [f"## {title} ({len(devs)})", ""]
        if devs:
            lines += ["| " + " | ".join(_COLS) + " |", "|" + "---|" * len(_COLS)]
            lines += ["| " + " | ".join(md(c) or " " for c in _cells(d)) + " |" for d in devs]
            lines.append("")
    lines += [f"## Changed ({len(result.changed)})", ""]
    if result.changed:
        lines += ["| IP | MAC | Matched by | Field | Old | New |", "|---|---|---|---|---|---|"]
        for c in result.changed:
            for name, (a, b) in c.fields.items():
                ip = md(c.new.get("ip")) or " "
                mac = md(c.new.get("mac") or c.old.get("mac")) or " "
                cells = [ip, mac, c.matched_by, name, md(_show(a)), md(_show(b))]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).rstrip() + "\n"
