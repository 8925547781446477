"""Run a command where the lab can be built without root: an unprivileged user namespace.

`reexec_unprivileged(argv)` runs `argv` under `unshare --user --map-root-user --net --mount`.
Inside, the command is root over namespaces of its own: a fresh, empty network namespace (only
`lo`, brought up) and a private mount namespace with a tmpfs on /run, so `ip netns` keeps its
names and the lab its state files there, invisible to the rest of the machine. The same `Lab`
code then works unchanged. Everything the command built disappears when it exits, so a killed
run leaves nothing behind. This never gives access to the machine's real network.

    python -m camscan.lab.unpriv python -m pytest tests/test_lab_netns.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from camscan.errors import LabError
from camscan.lab.iproute import IP

#: Set in the environment of a command running inside the user namespace.
MARKER = "CAMSCAN_LAB_USERNS"

_SETUP = (
    'mount -t tmpfs -o mode=0755 camscan-run /run && mkdir -p /run/netns && "$0" link set lo up'
    ' && shift && exec "$@"'
)


def inside_user_namespace() -> bool:
    """True in a command started by reexec_unprivileged()."""
    return os.environ.get(MARKER) == "1"


def unprivileged_argv(argv: Sequence[str]) -> list[str]:
    """The full argv that runs `argv` inside a fresh user + network + mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise LabError("'unshare' (util-linux) is needed to build the lab without root")
    if not argv:
        raise LabError("no command to run inside the user namespace")
    return [
        unshare,
        "--user",
        "--map-root-user",
        "--net",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        _SETUP,
        IP,
        "camscan-userns",  # becomes $0 after the shift
        *argv,
    ]


def reexec_unprivileged(argv: Sequence[str]) -> int:
    """Run `argv` inside an unprivileged user namespace; return its exit status.

    SIGTERM and SIGHUP are passed on to it; Ctrl-C reaches it directly (same process group),
    and this call keeps waiting until it has torn its lab down.
    """
    full = unprivileged_argv(argv)
    child = subprocess.Popen(full, env={**os.environ, MARKER: "1"})

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, forward)
        except ValueError:  # not the main thread: nothing to forward from
            break
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                continue  # the child got the same Ctrl-C; let it clean up
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(__doc__, file=sys.stderr)  # noqa: T201 - usage on stderr
        return 2
    try:
        return reexec_unprivileged(args)
    except LabError as exc:
        print(f"camscan: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
