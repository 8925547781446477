"""A live progress line on stderr (modules, hosts, evidence); silent when not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.text import Text

from camscan.scan import Progress


def _render(p: Progress) -> Text:
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
    with Live(_render(progress), console=console, refresh_per_second=8, transient=True) as live:

        def update(p: Progress) -> None:
            live.update(_render(p))

        progress.listeners.append(update)
        try:
            yield
        finally:
            progress.listeners.remove(update)
