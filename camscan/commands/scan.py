"""`camscan scan`: the active scan users run on an office LAN."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from camscan.active import PreparedScan, ScanOptions, prepare, result_of, run
from camscan.commands.options import (
    MODULES_HELP,
    CsvOption,
    FingerprintsOption,
    InventoryDbOption,
    OutputOption,
    PolicyOption,
    QuietOption,
    SiteOption,
    add_to_inventory,
)
from camscan.discovery.base import DEFAULT_PORTS, ScanSettings
from camscan.errors import UsageError
from camscan.model import ScanResult
from camscan.output import (
    check_writable,
    json_destination,
    show_result,
    write_csv,
    write_device_list,
)
from camscan.policy import load_regimes, select_regimes
from camscan.progress import live_progress

DEFAULT_PORTS_TEXT = ", ".join(map(str, DEFAULT_PORTS))


def parse_ports(text: str | None) -> tuple[int, ...]:
    if not text:
        return DEFAULT_PORTS
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise UsageError(f"--ports: {part!r} is not a port or range")
        a, b = int(lo), int(hi or lo)
        if not 0 < a <= b <= 65535:
            raise UsageError(f"--ports: {part!r} is out of 1-65535")
        ports.extend(range(a, b + 1))
    return tuple(dict.fromkeys(ports))


def split_csv(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="CIDR, IP or range (a.b.c.d-e). Default: the attached subnet(s).",
            metavar="TARGET",
            show_default=False,
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Never probe these (CIDR, IP or range; repeatable; wins).", metavar="T"),
    ] = None,
    interface: Annotated[
        str | None,
        typer.Option(help="Interface facing the targets. Default: the route's.", metavar="IF"),
    ] = None,
    allow_public: Annotated[
        bool,
        typer.Option(
            "--allow-public",
            help="Also scan public addresses (default: only private, link-local, CGNAT and "
            "benchmark ranges).",
        ),
    ] = False,
    max_hosts: Annotated[
        int | None,
        typer.Option(
            help="Refuse more addresses than this. Default: 65536 (the attached subnets: 1024 each).",
            metavar="N",
        ),
    ] = None,
    modules: Annotated[
        list[str] | None, typer.Option(help=MODULES_HELP, metavar="M[,M...]")
    ] = None,
    ports: Annotated[
        str | None,
        typer.Option(
            help=f"TCP ports to sweep, e.g. 80,443,8000-8010. Default: {DEFAULT_PORTS_TEXT}.",
            metavar="PORTS",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Simultaneous probes.", metavar="N")] = 512,
    rate: Annotated[
        float,
        typer.Option(
            help="At most this many new connections/packets per second, liveness pass "
            "included (lower it for networks that must be treated gently).",
            metavar="N",
        ),
    ] = 5000.0,
    liveness: Annotated[
        bool,
        typer.Option(
            "--liveness/--no-liveness",
            help="Before sweeping every port of a long list of addresses not seen by ARP "
            "(a large or routed range), find which answer at all (TCP connect to 80, 443, "
            "554; ICMP echo as root) and sweep only those.",
        ),
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Run the host probes in N worker processes besides the scan's own (default "
            "0: none). For machines with cores to spare; rate and concurrency are shared out.",
            metavar="N",
        ),
    ] = None,
    listen: Annotated[float, typer.Option(help="Multicast listen window (s).", metavar="S")] = 2.0,
    host_budget: Annotated[
        float, typer.Option(help="Time budget per host (s).", metavar="S")
    ] = 15.0,
    module_budget: Annotated[
        float, typer.Option(help="Time budget per broadcast module (s).", metavar="S")
    ] = 30.0,
    credentials: Annotated[
        Path | None,
        typer.Option(
            help="YAML file {username, password} for ONVIF GetDeviceInformation (never on the "
            "command line). Default: no login.",
            metavar="FILE",
        ),
    ] = None,
    policy: PolicyOption = None,
    fingerprints: FingerprintsOption = None,
    output: OutputOption = None,
    csv: CsvOption = None,
    quiet: QuietOption = False,
    db: InventoryDbOption = None,
    site: SiteOption = None,
) -> None:
    """Scan targets with every discovery module and list the devices by manufacturer.

    Without -o, the JSON device list goes to stdout when stdout is not a terminal (a pipe or
    a file); in a terminal the table is shown instead. Exit status 0: complete; 3: finished
    but incomplete (addresses that could not be probed, or hosts out of budget: the list is
    marked partial, with counts in its warnings); 2: bad input; 130: interrupted."""
    for path in (output, csv):
        check_writable(path)
    if concurrency < 1 or rate <= 0 or listen < 0 or host_budget <= 0 or module_budget <= 0:
        raise UsageError("--concurrency, --rate and the budgets must be positive")
    if max_hosts is not None and max_hosts < 1:
        raise UsageError("--max-hosts must be at least 1")
    if workers is not None and not 0 <= workers <= 64:
        raise UsageError("--workers must be between 0 and 64")
    select_regimes(policy, load_regimes())  # a bad --policy fails here, before any packet
    settings = ScanSettings(
        listen_window=listen,
        host_budget=host_budget,
        module_budget=max(module_budget, listen),
        concurrency=concurrency,
        rate=rate,
        ports=parse_ports(ports),
    )
    opts = ScanOptions(
        targets=list(targets or []),
        excludes=list(exclude or []),
        interface=interface,
        allow_public=allow_public,
        max_hosts=max_hosts,
        modules=split_csv(modules),
        settings=settings,
        credentials=credentials,
        policy=policy,
        fingerprints=list(fingerprints or []),
        liveness=liveness,
        workers=workers,
    )
    destination = json_destination(output, quiet)
    result = scan_and_write(opts, output=destination, csv=csv, quiet=quiet)
    show_result(result.to_json(), output=destination, csv=csv, quiet=quiet)
    add_to_inventory(result, db, site)
    if result.scan.partial:
        incomplete = [w for w in result.scan.warnings if "incomplete scan:" in w]
        line = incomplete[-1].split(": ", 1)[-1] if incomplete else "incomplete scan"
        sys.stderr.write(f"camscan: {line}; the device list is marked partial\n")
        raise typer.Exit(EXIT_INCOMPLETE)


#: Exit status of a scan that finished but could not cover everything (scan.partial).
EXIT_INCOMPLETE = 3


def scan_and_write(
    opts: ScanOptions, *, output: str | None, csv: str | None, quiet: bool
) -> ScanResult:
    """Prepare (all checks before the first packet), scan, write. On Ctrl-C write what was
    found so far, marked partial, then exit 130."""
    prepared = prepare(opts)
    show = not quiet and sys.stderr.isatty()
    try:
        with live_progress(prepared.scan.progress, enabled=show):
            result = run(prepared)
    except KeyboardInterrupt:
        partial = _partial(prepared)
        _write(partial, output, csv)
        sys.stderr.write(
            f"camscan: interrupted; wrote {len(partial.devices)} devices found so far (partial)\n"
        )
        raise typer.Exit(130) from None
    _write(result, output, csv)
    return result


def _partial(prepared: PreparedScan) -> ScanResult:
    return result_of(prepared, list(prepared.ctx.evidence), partial=True)


def _write(result: ScanResult, output: str | None, csv: str | None) -> None:
    doc = result.to_json()
    if output:
        write_device_list(doc, output)
    if csv:
        write_csv(doc, csv)


def register(app: typer.Typer) -> None:
    app.command()(scan)
