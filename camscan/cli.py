"""The `camscan` command line. Data goes to stdout, progress and messages to stderr.

Every camscan error is one line on stderr and exit 2; Ctrl-C is exit 130; a closed pipe
(`camscan match | head`) ends quietly.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import typer

from camscan.errors import CamscanError

app = typer.Typer(
    name="camscan",
    help="Find the cameras, NVRs and DVRs on a network, name who really made them, and flag "
    "those covered by restriction regimes. Passive and non-intrusive.\n\n"
    "Data (the JSON device list) goes to stdout when stdout is not a terminal, or to -o FILE; "
    "tables and messages go to the terminal. A bad option is a one-line error and exit 2, "
    "before anything is sent; Ctrl-C writes what was found so far (marked partial), exit 130.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Commands that live in their own modules register themselves here.
COMMAND_MODULES = (
    "camscan.commands.scan",
    "camscan.commands.demo",
    "camscan.commands.passive",
    "camscan.commands.report",
    "camscan.commands.diff",
    "camscan.commands.policy",
    "camscan.commands.fingerprints",
    "camscan.commands.inventory",
    "camscan.commands.importcmd",
)


def err(message: str) -> None:
    sys.stderr.write(f"camscan: {message}\n")


def version() -> str:
    """The installed package's version; the source tree's when camscan is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("camscan")
    except PackageNotFoundError:
        from camscan import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"camscan {version()}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        help="Print camscan's version and exit.",
        callback=_show_version,
        is_eager=True,
    ),
) -> None:
    """camscan's global options."""


@app.command()
def schema() -> None:
    """Print the JSON Schema of the device list."""
    from camscan.schema import device_list_schema

    sys.stdout.write(json.dumps(device_list_schema(), indent=2) + "\n")


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
