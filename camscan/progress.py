"""A live progress line on stderr (modules, hosts, evidence); silent when not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.text import Text

from camscan.scan import Progress


class _Line:
    """Re-rendered by rich on every refresh, so counters show as they change."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __rich__(self) -> Text:
        p = self.progress
        return Text(
            f"modules {p.modules_done}/{p.modules_total}  hosts {p.hosts_done}/{p.hosts_seen}"
            f"  evidence {p.evidence}",
            style="dim",
        )


@contextmanager
def live_progress(progress: Progress, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    console = Console(stderr=True)
    with Live(_Line(progress), console=console, refresh_per_second=8, transient=True):
        yield
