"""`camscan scan`: the active scan users run on an office LAN."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from camscan.active import PreparedScan, ScanOptions, prepare, result_of, run
from camscan.commands.options import (
    CsvOption,
    FingerprintsOption,
    OutputOption,
    PolicyOption,
    QuietOption,
)
from camscan.discovery.base import DEFAULT_PORTS, ScanSettings
from camscan.errors import UsageError
from camscan.model import ScanResult
from camscan.output import check_writable, write_csv, write_device_list
from camscan.progress import live_progress


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
        typer.Argument(help="CIDR, IP or range (a.b.c.d-e). Default: the attached subnet(s)."),
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Never probe these (wins).")] = None,
    interface: Annotated[str | None, typer.Option(help="Interface facing the targets.")] = None,
    allow_public: Annotated[bool, typer.Option(help="Allow public (non-private) targets.")] = False,
    max_hosts: Annotated[int | None, typer.Option(help="Refuse more addresses than this.")] = None,
    modules: Annotated[
        list[str] | None, typer.Option(help="Modules to run, comma-separated (default: all).")
    ] = None,
    ports: Annotated[str | None, typer.Option(help="TCP ports to sweep, e.g. 80,443,554.")] = None,
    concurrency: Annotated[int, typer.Option(help="Simultaneous probes.")] = 512,
    rate: Annotated[float, typer.Option(help="New connections/packets per second.")] = 5000.0,
    listen: Annotated[float, typer.Option(help="Multicast listen window (s).")] = 2.0,
    host_budget: Annotated[float, typer.Option(help="Time budget per host (s).")] = 15.0,
    module_budget: Annotated[
        float, typer.Option(help="Time budget per broadcast module (s).")
    ] = 30.0,
    credentials: Annotated[
        Path | None, typer.Option(help="File with ONVIF credentials (never on the command line).")
    ] = None,
    policy: PolicyOption = None,
    fingerprints: FingerprintsOption = None,
    output: OutputOption = None,
    csv: CsvOption = None,
    quiet: QuietOption = False,
) -> None:
    """Scan targets with every discovery module and list the devices by manufacturer."""
    for path in (output, csv):
        check_writable(path)
    if concurrency < 1 or rate <= 0 or listen < 0 or host_budget <= 0 or module_budget <= 0:
        raise UsageError("--concurrency, --rate and the budgets must be positive")
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
    )
    result = scan_and_write(opts, output=output, csv=csv, quiet=quiet)
    if not quiet and output != "-":
        from camscan.report.table import print_scan_table

        print_scan_table(result.to_json())


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
