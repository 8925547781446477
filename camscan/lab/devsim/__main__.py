"""python -m camscan.lab.devsim --personas FILE [--personas-json -|FILE] --audit-log FILE
                               [--bind-any-ip] [--no-mdns] [--only NAME ...]

Serves the personas whose IPs exist in the current network namespace, prints `READY <n>` on
stdout once every socket is bound (n = personas served), and exits 0 on SIGTERM or SIGINT.
On SIGUSR1 every device announces itself (ARP, DHCP, WS-Discovery Hello, SSDP NOTIFY, mDNS;
camscan.lab.devsim.announce) and `ANNOUNCED <round> <messages>` is printed when it is sent.
Errors are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

from camscan.errors import CamscanError
from camscan.lab.devsim.server import DevSim, DevSimOptions, fd_count, note
from camscan.lab.personas import Persona, load_personas, personas_from_json


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m camscan.lab.devsim", description=(__doc__ or "").split("\n\n")[-1]
    )
    ap.add_argument(
        "--personas",
        action="append",
        default=[],
        metavar="FILE",
        help="persona YAML file (repeatable; default: the bundled office)",
    )
    ap.add_argument("--personas-json", metavar="FILE", help="personas as JSON ('-' = stdin)")
    ap.add_argument(
        "--audit-log",
        required=True,
        type=Path,
        metavar="FILE",
        help="append one JSON line per write or login attempt",
    )
    ap.add_argument(
        "--bind-any-ip",
        action="store_true",
        help="test mode: serve 127.0.0.0/8 personas, no multicast/broadcast/mDNS",
    )
    ap.add_argument("--no-mdns", action="store_true", help="do not start mDNS responders")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="serve only these personas")
    ap.add_argument("--seed", type=int, help="seed of the reply delays")
    return ap.parse_args(argv)


def gather_personas(args: argparse.Namespace) -> list[Persona]:
    personas: list[Persona] = []
    for path in args.personas:
        personas += load_personas(path)
    if args.personas_json:
        if args.personas_json == "-":
            personas += personas_from_json(sys.stdin.read(), "<stdin>")
        else:
            path = Path(args.personas_json)
            personas += personas_from_json(path.read_text(encoding="utf-8"), str(path))
    if not args.personas and not args.personas_json:
        personas = load_personas()
    if args.only:
        wanted = set(args.only)
        personas = [p for p in personas if p.name in wanted]
    return personas


async def serve(args: argparse.Namespace) -> int:
    personas = gather_personas(args)
    options = DevSimOptions(
        audit_log=args.audit_log, loopback=args.bind_any_ip, mdns=not args.no_mdns, seed=args.seed
    )
    sim = DevSim(personas, options)
    stop = asyncio.Event()
    announce: asyncio.Queue[None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, announce.put_nowait, None)
    t0 = time.monotonic()
    served = await sim.start()
    if sim.skipped:
        note(f"{len(sim.skipped)} personas skipped: their IPs are not in this namespace")
    note(f"serving {len(served)} personas in {time.monotonic() - t0:.2f}s, {fd_count()} fds")
    sys.stdout.write(f"READY {len(served)}\n")
    sys.stdout.flush()
    announcer = asyncio.create_task(_announce_on_request(sim, announce))
    try:
        await stop.wait()
    finally:
        announcer.cancel()
        await sim.close()
    return 0


async def _announce_on_request(sim: DevSim, requests: asyncio.Queue[None]) -> None:
    rounds = 0
    while True:
        await requests.get()
        rounds += 1
        try:
            sent = await sim.announce()
        except OSError as exc:
            note(f"announcement round {rounds} failed: {exc}")
            sent = -1
        sys.stdout.write(f"ANNOUNCED {rounds} {sent}\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(serve(args))
    except CamscanError as exc:
        sys.stderr.write(f"devsim: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
