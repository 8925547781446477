"""Thin wrappers around iproute2 for the lab: batches, the namespace list, processes inside one.

Every call here acts on named network namespaces or runs an `ip -batch` script whose lines
were rendered by `camscan.lab.topology`; nothing touches the caller's own interfaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence

from camscan.errors import LabError


def _find_ip() -> str:
    # /usr/sbin is missing from many unprivileged users' PATH, yet `ip` runs fine without root.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("ip", path=path) or "ip"


IP = _find_ip()
NETNS_DIR = "/run/netns"
BATCH_TIMEOUT = 300.0


def ip_batch(script: str, ns: str | None = None, *, force: bool = False) -> None:
    """Run an `ip -batch` script (inside `ns` when given); raise LabError on the first error."""
    if not script:
        return
    argv = [IP, *(["-n", ns] if ns else []), *(["-force"] if force else []), "-batch", "-"]
    try:
        done = subprocess.run(
            argv, input=script, capture_output=True, text=True, timeout=BATCH_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"ip -batch failed: {exc}") from None
    if done.returncode != 0 and not force:
        where = f" in {ns}" if ns else ""
        detail = done.stderr.strip().splitlines()[:3]
        raise LabError(f"ip -batch{where} failed: {' / '.join(detail) or done.returncode}")


def netns_exec_argv(ns: str, argv: Sequence[str]) -> list[str]:
    """argv that runs `argv` inside the named namespace (with its own /sys view)."""
    return [IP, "netns", "exec", ns, *argv]


def netns_names() -> list[str]:
    """Names under /run/netns (what `ip netns list` shows)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_pids(ns: str) -> list[int]:
    """Processes whose network namespace is `ns`."""
    try:
        done = subprocess.run(
            [IP, "netns", "pids", ns], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def kill_netns_processes(names: Iterable[str]) -> None:
    """SIGKILL whatever still runs inside these (lab-owned) namespaces, so they can go away."""
    for ns in names:
        for pid in netns_pids(ns):
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def delete_netns(names: Iterable[str]) -> list[str]:
    """Delete the named namespaces that exist; return the names deleted."""
    present = set(netns_names())
    gone = [ns for ns in names if ns in present]
    ip_batch("".join(f"netns del {ns}\n" for ns in gone), force=True)
    return gone
