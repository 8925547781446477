"""`camscan match` (evidence strings in, what a scan would conclude out) and `camscan
fingerprints test|list` (the rules' self-test and listing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

FingerprintDirs = Annotated[
    list[Path] | None,
    typer.Option(
        "--fingerprints",
        metavar="DIR",
        help="Extra folder of fingerprint *.yaml rules (and its own vendors.yaml); repeatable.",
    ),
]


def match(fingerprints: FingerprintDirs = None) -> None:
    """Match evidence: JSON lines on stdin, each {"protocol": P, "value": V} or
    {"evidence": [{"protocol": P, "value": V}, ...]} (one host); one JSON line out per input
    line, with what a scan would conclude about a host that showed only that evidence.
    Exit status 1 when any input line was bad."""
    from camscan.fingerprint.engine import Engine
    from camscan.identify import identify, verdict

    engine = Engine.load(fingerprints or [])
    out = sys.stdout
    bad = 0
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            items = _match_items(line)
        except ValueError as exc:
            bad += 1
            out.write(json.dumps({"line": lineno, "error": str(exc)}) + "\n")
            continue
        head: dict[str, object] = {"line": lineno}
        if len(items) == 1:
            head["protocol"] = items[0][0]
        out.write(json.dumps({**head, **verdict(identify(items, engine))}) + "\n")
        out.flush()
    if bad:
        sys.stderr.write(f"camscan: {bad} input line(s) were not valid evidence\n")
        raise typer.Exit(1)


def _match_items(line: str) -> list[tuple[str, str]]:
    from camscan.protocols import PROTOCOLS

    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    raw = item.get("evidence", [item])
    if not isinstance(raw, list) or not raw:
        raise ValueError("evidence must be a non-empty list")
    items = []
    for ev in raw:
        if not isinstance(ev, dict):
            raise ValueError("each evidence item must be an object")
        protocol, value = ev.get("protocol"), ev.get("value")
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}")
        if not isinstance(value, str):
            raise ValueError("value must be a string")
        items.append((protocol, value))
    return items


def fingerprints_test(fingerprints: FingerprintDirs = None) -> None:
    """Check every rule's examples: each matches its own rule, yields exactly its fields,
    and is not claimed more strongly by another manufacturer's rule."""
    from camscan.fingerprint.engine import Engine
    from camscan.fingerprint.selftest import run_selftest

    report = run_selftest(Engine.load(fingerprints or []))
    for failure in report.failures:
        sys.stdout.write(f"FAIL {failure}\n")
    sys.stdout.write(
        f"{report.rules} rules, {report.lexicon} lexicon entries, {report.examples} examples, "
        f"{len(report.failures)} failures\n"
    )
    if report.failures:
        raise typer.Exit(1)


def fingerprints_list(
    fingerprints: FingerprintDirs = None,
    protocol: Annotated[
        str | None,
        typer.Option(help="Only rules of this protocol (e.g. http_server, rtsp_server, sadp)."),
    ] = None,
    vendor: Annotated[
        str | None,
        typer.Option(help="Only rules claiming this manufacturer (case-insensitive)."),
    ] = None,
) -> None:
    """Show the rules, per manufacturer and protocol."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from camscan.fingerprint.engine import Engine
    from camscan.protocols import PROTOCOLS

    if protocol is not None and protocol not in PROTOCOLS:
        from camscan.errors import UsageError

        raise UsageError(
            f"--protocol: unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}"
        )
    engine = Engine.load(fingerprints or [])
    table = Table("manufacturer", "brand", "protocol", "rule", "conf", "description")
    rules = sorted(engine.rules, key=lambda r: ((r.manufacturer or "~generic"), r.protocol, r.id))
    for r in rules:
        if protocol and r.protocol != protocol:
            continue
        if vendor and (r.manufacturer or "").casefold() != vendor.casefold():
            continue
        # Text cells: rule data is shown literally, never parsed as rich markup.
        table.add_row(
            Text(r.manufacturer or "-"),
            Text(str(r.claims.get("brand") or "")),
            Text(r.protocol),
            Text(r.id),
            Text(f"{r.confidence:.2f}"),
            Text(r.description or ""),
        )
    console = Console(highlight=False, emoji=False)
    if not console.is_terminal:
        console.width = 1000  # a pipe: one line per rule, nothing folded
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(match)
    fingerprints_app = typer.Typer(
        help="Inspect and test the fingerprint rules.", no_args_is_help=True
    )
    fingerprints_app.command("test")(fingerprints_test)
    fingerprints_app.command("list")(fingerprints_list)
    app.add_typer(fingerprints_app, name="fingerprints")
