"""An inline SVG bar chart of devices by manufacturer, each bar split by replacement priority.
No script, no external reference: it is plain markup inside the HTML report."""

from __future__ import annotations

from collections import Counter
from typing import Any

from camscan.report.context import UNKNOWN
from camscan.report.sanitize import html_text

PRIORITY_COLOURS = {
    1: "#8e1b12",
    2: "#d2402f",
    3: "#e6a21a",
    4: "#9b6cc4",
    5: "#3d8b5a",
    0: "#8c96a3",
}
PRIORITY_NAMES = {1: "P1", 2: "P2", 3: "P3", 4: "P4", 5: "P5", 0: "no plan"}
MAX_BARS = 25


def bar_counts(devices: list[dict[str, Any]]) -> list[tuple[str, Counter[int]]]:
    """[(manufacturer, {priority: devices})], largest first; priority 0 = no plan entry."""
    bars: dict[str, Counter[int]] = {}
    for d in devices:
        rep = d.get("replacement")
        prio = rep.get("priority", 0) if isinstance(rep, dict) else 0
        bars.setdefault(str(d.get("manufacturer") or UNKNOWN), Counter())[prio] += 1
    ordered = sorted(bars.items(), key=lambda kv: (-sum(kv[1].values()), kv[0].casefold()))
    return ordered[:MAX_BARS]


def bar_chart(devices: list[dict[str, Any]], width: int = 720) -> str:
    bars = bar_counts(devices)
    if not bars:
        return '<p class="muted">No devices to chart.</p>'
    label_w, count_w, row_h, top = 170, 48, 26, 8
    plot_w = width - label_w - count_w
    biggest = max(sum(c.values()) for _, c in bars)
    legend_y = top + row_h * len(bars) + 12
    height = legend_y + 24
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Devices by manufacturer">'
    ]
    for i, (name, counts) in enumerate(bars):
        y = top + i * row_h
        out.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="lbl">'
            f"{html_text(name, 28)}</text>"
        )
        x = float(label_w)
        for prio in (1, 2, 3, 4, 5, 0):
            n = counts.get(prio, 0)
            if not n:
                continue
            w = max(plot_w * n / biggest, 2.0)
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{PRIORITY_COLOURS[prio]}"><title>{html_text(name, 60)}: {n} '
                f"{PRIORITY_NAMES[prio]}</title></rect>"
            )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 17}" class="num">{sum(counts.values())}</text>')
    x = float(label_w)
    for prio in (1, 2, 3, 4, 5, 0):
        out.append(
            f'<rect x="{x:.1f}" y="{legend_y}" width="12" height="12" '
            f'fill="{PRIORITY_COLOURS[prio]}"/>'
            f'<text x="{x + 16:.1f}" y="{legend_y + 11}" class="leg">{PRIORITY_NAMES[prio]}</text>'
        )
        x += 78
    out.append("</svg>")
    return "".join(out)
