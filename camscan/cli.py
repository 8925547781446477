"""The `camscan` command line. Data goes to stdout, progress and messages to stderr.

Every camscan error is one line on stderr and exit 2; Ctrl-C is exit 130; a closed pipe
(`camscan match | head`) ends quietly.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from camscan.errors import CamscanError

app = typer.Typer(
    name="camscan",
    help="Find the cameras, NVRs and DVRs on a network, name who really made them, and flag "
    "those covered by restriction regimes. Passive and non-intrusive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
fingerprints_app = typer.Typer(help="Inspect and test the fingerprint rules.", no_args_is_help=True)
app.add_typer(fingerprints_app, name="fingerprints")

FingerprintDirs = Annotated[
    list[Path] | None,
    typer.Option("--fingerprints", help="Extra directory of fingerprint *.yaml rules."),
]

# Commands that live in their own modules register themselves here.
COMMAND_MODULES = (
    "camscan.commands.scan",
    "camscan.commands.demo",
    "camscan.commands.passive",
    "camscan.commands.report",
    "camscan.commands.diff",
    "camscan.commands.policy",
)


def err(message: str) -> None:
    sys.stderr.write(f"camscan: {message}\n")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the device list."""
    from camscan.schema import device_list_schema

    sys.stdout.write(json.dumps(device_list_schema(), indent=2) + "\n")


@app.command()
def match(fingerprints: FingerprintDirs = None) -> None:
    """Match evidence strings: JSON lines {"protocol", "value"} on stdin, one result per line."""
    from camscan.fingerprint.engine import Engine, best_claim
    from camscan.protocols import PROTOCOLS

    engine = Engine.load(fingerprints or [])
    out = sys.stdout
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not a JSON object")
            protocol, value = item.get("protocol"), item.get("value")
            if protocol not in PROTOCOLS:
                raise ValueError(f"unknown protocol {protocol!r}")
            if not isinstance(value, str):
                raise ValueError("value must be a string")
        except ValueError as exc:
            out.write(json.dumps({"line": lineno, "error": str(exc)}) + "\n")
            continue
        claim = best_claim(engine.match_value(protocol, value))
        result = claim.to_json() if claim else _no_match()
        out.write(json.dumps({"line": lineno, "protocol": protocol, **result}) + "\n")
        out.flush()


def _no_match() -> dict[str, object]:
    return {
        "manufacturer": None,
        "brand": None,
        "model": None,
        "firmware": None,
        "serial": None,
        "device_type": None,
        "is_surveillance": None,
        "confidence": 0.0,
        "rule": None,
    }


@fingerprints_app.command("test")
def fingerprints_test(fingerprints: FingerprintDirs = None) -> None:
    """Check every rule's examples: each matches its own rule, yields exactly its fields,
    and is not claimed more strongly by another manufacturer's rule."""
    from camscan.fingerprint.engine import Engine
    from camscan.fingerprint.selftest import run_selftest

    report = run_selftest(Engine.load(fingerprints or []))
    for failure in report.failures:
        sys.stdout.write(f"FAIL {failure}\n")
    sys.stdout.write(
        f"{report.rules} rules, {report.examples} examples, {len(report.failures)} failures\n"
    )
    if report.failures:
        raise typer.Exit(1)


@fingerprints_app.command("list")
def fingerprints_list(
    fingerprints: FingerprintDirs = None,
    protocol: Annotated[str | None, typer.Option(help="Only rules of this protocol.")] = None,
    vendor: Annotated[
        str | None, typer.Option(help="Only rules claiming this manufacturer.")
    ] = None,
) -> None:
    """Show the rules, per manufacturer and protocol."""
    from rich.console import Console
    from rich.table import Table

    from camscan.fingerprint.engine import Engine

    engine = Engine.load(fingerprints or [])
    table = Table("manufacturer", "brand", "protocol", "rule", "conf", "description")
    rules = sorted(engine.rules, key=lambda r: ((r.manufacturer or "~generic"), r.protocol, r.id))
    for r in rules:
        if protocol and r.protocol != protocol:
            continue
        if vendor and (r.manufacturer or "").casefold() != vendor.casefold():
            continue
        table.add_row(
            r.manufacturer or "-",
            r.claims.get("brand") or "",
            r.protocol,
            r.id,
            f"{r.confidence:.2f}",
            r.description,
            markup=False,
        )
    Console().print(table)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="camscan", standalone_mode=False)
    except CamscanError as exc:
        err(str(exc))
        code = 2
    except (typer.Abort, KeyboardInterrupt):
        err("interrupted")
        code = 130
    except BrokenPipeError:
        # Ignore: the reader went away (e.g. `| head`). Point stdout at devnull so the
        # interpreter's final flush doesn't complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:
        # Click's usage errors (typer vendors click in newer releases: duck-type them).
        if not (hasattr(exc, "show") and hasattr(exc, "exit_code")):
            raise
        exc.show()
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
