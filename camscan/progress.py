"""A live progress line on stderr (modules, hosts, evidence; on big ranges, addresses done and
the time left); silent when not a terminal."""

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
        return Text(progress_text(self.progress), style="dim")


def progress_text(p: Progress) -> str:
    """The progress line: modules, hosts and evidence; while a liveness pass runs over a
    large range, also how far it is and an estimate of the time left."""
    text = (
        f"modules {p.modules_done}/{p.modules_total}  hosts {p.hosts_done}/{p.hosts_seen}"
        f"  evidence {p.evidence}"
    )
    lp = p.liveness
    if lp is not None and lp.stats.addresses:
        s = lp.stats
        text += (
            f"  addresses {s.resolved:,}/{s.addresses:,} ({100 * s.resolved // s.addresses}%)"
            f", {s.alive} live"
        )
        left = lp.eta()
        if left is not None:
            text += f", about {_duration(left)} left"
    return text


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


@contextmanager
def live_progress(progress: Progress, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    console = Console(stderr=True)
    with Live(_Line(progress), console=console, refresh_per_second=8, transient=True):
        yield
