"""`camscan passive`: the device list from capture files or live traffic, sending nothing."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from camscan.commands.options import (
    CsvOption,
    FingerprintsOption,
    InventoryDbOption,
    OutputOption,
    PolicyOption,
    QuietOption,
    SiteOption,
    add_to_inventory,
)
from camscan.errors import UsageError
from camscan.fingerprint.engine import Engine
from camscan.fusion import attach_notes
from camscan.model import Evidence, ScanInfo, ScanResult
from camscan.output import (
    check_writable,
    json_destination,
    show_result,
    write_csv,
    write_device_list,
)
from camscan.passive import PassiveStats, check_captures, passive_evidence
from camscan.passive.dns import cloud_domains
from camscan.pipeline import finish
from camscan.policy import load_regimes, select_regimes


def passive(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="pcap or pcapng capture files (read as a stream, any size).",
            show_default=False,
            metavar="CAPTURE",
        ),
    ] = None,
    interface: Annotated[
        str | None,
        typer.Option(
            help="Listen on this interface instead of reading files (needs root).", metavar="IF"
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            help="With --interface: listen this many seconds. Default: until Ctrl-C.",
            metavar="S",
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
    """List the devices seen in captures (or live traffic) without sending a packet.

    Without -o, the JSON device list goes to stdout when stdout is not a terminal (a pipe or
    a file) or with -q; in a terminal the table is shown instead."""
    if files and interface:
        raise UsageError("give capture files or --interface, not both")
    if not files and not interface:
        raise UsageError("give capture files, or --interface IF [--duration S]")
    if duration is not None and duration <= 0:
        raise UsageError("--duration must be more than 0 seconds")
    if duration is not None and not interface:
        raise UsageError("--duration only applies to --interface")
    for path in (output, csv):
        check_writable(path)
    select_regimes(policy, load_regimes())  # a bad --policy fails here, before reading
    if files:
        check_captures(files)
    output = json_destination(output, quiet)
    engine = Engine.load(fingerprints or [])
    stats = PassiveStats()
    say = _stderr if not quiet else None
    info = ScanInfo(
        mode="passive", targets=list(files or [interface]), modules=["passive"], policy=[]
    )
    evidence: list[Evidence] = []
    # the clouds of every loaded lexicon, a user's --fingerprints folders included
    domains = cloud_domains(c.domains for c in engine.lexicon.clouds) if engine.lexicon else None
    try:
        if files:
            evidence.extend(
                passive_evidence(files, stats=stats, on_warning=_warning, domains=domains)
            )
        else:
            from camscan.passive.live import live_evidence

            def started() -> None:
                if say:
                    how_long = (
                        f"for {duration:g} s (Ctrl-C ends early)" if duration else "until Ctrl-C"
                    )
                    say(f"listening on {interface} {how_long}")

            evidence = live_evidence(
                interface,
                duration,
                stats=stats,
                on_warning=_warning,
                on_started=started,
                domains=domains,
            )
    except KeyboardInterrupt:
        info.partial = True
        result = _result(evidence, engine, info, stats, policy)
        _write(result, output, csv)
        _stderr(f"interrupted; wrote {len(result.devices)} devices found so far (partial)")
        raise typer.Exit(130) from None
    # Ctrl-C ends a live capture that has no --duration: that is its normal end. A timed
    # capture stopped early heard less than asked for, so its list is marked partial.
    info.partial = stats.interrupted and duration is not None
    result = _result(evidence, engine, info, stats, policy)
    _write(result, output, csv)
    if info.partial:
        _stderr(f"interrupted; wrote {len(result.devices)} devices heard so far (partial)")
        raise typer.Exit(130)
    if say:
        say(
            f"{stats.packets:,} packets in {stats.elapsed:.1f} s ({stats.rate:,.0f}/s), "
            f"{len(evidence)} evidence items, {len(result.devices)} devices"
        )
    show_result(result.to_json(), output=output, csv=csv, quiet=quiet)
    add_to_inventory(result, db, site)


def _result(
    evidence: list[Evidence],
    engine: Engine,
    info: ScanInfo,
    stats: PassiveStats,
    policy: str | None,
) -> ScanResult:
    info.finished_at = time.time()
    info.warnings = list(stats.warnings)
    result = finish(evidence, engine, info, policy)
    # Bare devices (notes, no evidence) name no maker: the policy has nothing to add to them.
    attach_notes(result.devices, stats.notes, lambda _ip: True)
    return result


def _write(result: ScanResult, output: str | None, csv: str | None) -> None:
    doc = result.to_json()
    if output:
        write_device_list(doc, output)
    if csv:
        write_csv(doc, csv)


def _stderr(message: str) -> None:
    sys.stderr.write(f"camscan: {message}\n")


def _warning(message: str) -> None:
    _stderr(f"warning: {message}")


def register(app: typer.Typer) -> None:
    app.command()(passive)
