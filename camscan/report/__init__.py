"""Reports of a device list: terminal tables, CSV, Markdown and one self-contained HTML file,
each with the replacement plan. Device strings are hostile: sanitize.py makes them inert."""

from __future__ import annotations

from typing import Any

from camscan.errors import UsageError
from camscan.output import csv_text
from camscan.report.context import build_context
from camscan.report.html import render_html
from camscan.report.markdown import render_markdown
from camscan.report.table import print_scan_table, table_text

FORMATS = ("table", "csv", "md", "html")

__all__ = ["FORMATS", "print_scan_table", "render_report"]


def render_report(doc: dict[str, Any], fmt: str, prices: dict[str, float] | None = None) -> str:
    """The report as text. `table` is the plain-text form of the terminal tables."""
    if fmt == "csv":
        return csv_text(doc)
    if fmt == "table":
        return table_text(doc, prices)
    if fmt == "md":
        return render_markdown(build_context(doc, prices))
    if fmt == "html":
        return render_html(build_context(doc, prices))
    raise UsageError(f"unknown report format {fmt!r}; valid: {', '.join(FORMATS)}")
