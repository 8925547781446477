"""Who owns which lab: one small JSON file per running lab, and the cleanup of dead runs' labs.

A lab writes `/run/camscan-lab/<stem>.json` (its namespaces, the creating pid and that
process's start time) *before* it creates anything, and removes the file after teardown. A
file whose process is gone (or whose pid now belongs to another process) marks a lab left by a
killed run; `cleanup_stale()` deletes its namespaces. /run is a tmpfs, so files and
namespaces vanish together at reboot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from camscan.lab.iproute import delete_netns, kill_netns_processes, netns_names

STATE_DIR = Path("/run/camscan-lab")
#: Namespace names made by a lab with a generated stem ("cs" + 6 hex digits).
GENERATED_NS = re.compile(r"^(cs[0-9a-f]{6})-(scan|dev|br)$")


@dataclass(frozen=True)
class LabState:
    stem: str
    pid: int
    pid_started: int  # /proc/<pid>/stat start time, so a recycled pid is not taken for the owner
    namespaces: tuple[str, ...]
    created: float

    @classmethod
    def for_this_process(cls, stem: str, namespaces: tuple[str, ...]) -> LabState:
        pid = os.getpid()
        return cls(stem, pid, process_start_time(pid) or 0, namespaces, time.time())

    def owner_alive(self) -> bool:
        started = process_start_time(self.pid)
        return started is not None and started == self.pid_started


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def state_path(stem: str) -> Path:
    return STATE_DIR / f"{stem}.json"


def write_state(state: LabState) -> None:
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = state_path(state.stem).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    tmp.replace(state_path(state.stem))


def remove_state(stem: str) -> None:
    state_path(stem).unlink(missing_ok=True)


def read_state(path: Path) -> LabState | None:
    """The state in `path`; None when the file is unreadable or not a lab state."""
    try:
        raw = json.loads(path.read_text())
        return LabState(
            stem=str(raw["stem"]),
            pid=int(raw["pid"]),
            pid_started=int(raw["pid_started"]),
            namespaces=tuple(str(n) for n in raw["namespaces"]),
            created=float(raw["created"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def state_lock() -> Iterator[None]:
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "w") as lock:
        # Held while a lab registers and names its namespaces, and during cleanup, so a
        # cleanup never sees a lab's namespaces before its state file.
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cleanup_stale() -> list[str]:
    """Delete labs whose creating process is dead; return the namespace names removed.

    Also removes namespaces with a generated lab name but no state file at all (the file is
    always written first, so such a namespace has lost its owner).
    """
    removed: list[str] = []
    with state_lock():
        owned: set[str] = set()
        for path in sorted(STATE_DIR.glob("*.json")):
            state = read_state(path)
            if state is None:
                path.unlink(missing_ok=True)
                continue
            if state.owner_alive():
                owned.update(state.namespaces)
                continue
            kill_netns_processes(state.namespaces)
            removed += delete_netns(state.namespaces)
            path.unlink(missing_ok=True)
        orphans = [ns for ns in netns_names() if GENERATED_NS.match(ns) and ns not in owned]
        if orphans:
            kill_netns_processes(orphans)
            removed += delete_netns(orphans)
    return removed
