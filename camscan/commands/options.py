"""Options several commands share, declared once so their names and help stay the same.
Help texts name the choices (regimes, countries, modules) from the same data the commands
check them against."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _policy_help() -> str:
    from camscan.errors import CamscanError
    from camscan.policy.regimes import load_regimes, policy_choices

    try:
        choices = policy_choices(load_regimes())
    except CamscanError:
        choices = "all, a country (ca, us, uk, au) or regime ids"
    return f"Regimes to apply, comma-separated: {choices}. Default: all (see camscan policy list)."


def _modules_help() -> str:
    from camscan.discovery.registry import NOT_BY_DEFAULT, default_names

    opt_in = sorted(NOT_BY_DEFAULT)
    return (
        f"Modules to run, comma-separated. Default: {', '.join(default_names())}. "
        f"Only when named: {', '.join(opt_in)} (built from thin public facts)."
    )


POLICY_HELP = _policy_help()
MODULES_HELP = _modules_help()

PolicyOption = Annotated[str | None, typer.Option(help=POLICY_HELP, metavar="POLICY")]
FingerprintsOption = Annotated[
    list[Path] | None,
    typer.Option(help="Extra directory of fingerprint *.yaml rules (repeatable).", metavar="DIR"),
]
OutputOption = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="Write the JSON device list here ('-' = stdout). Default: stdout when it is not "
        "a terminal, else not written.",
        metavar="FILE",
    ),
]
CsvOption = Annotated[
    str | None, typer.Option("--csv", help="Also write a CSV device list.", metavar="FILE")
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress, no table; without -o the JSON goes to stdout.",
    ),
]


def _check_site(value: str | None) -> str | None:
    if value is not None:
        from camscan.inventory import check_site

        check_site(value)
    return value


def _check_db(value: str | None) -> str | None:
    if value is not None:
        from camscan.inventory import check_db_path

        check_db_path(value)
    return value


InventoryDbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        callback=_check_db,
        help="Also add the device list to this inventory (SQLite; camscan inventory). "
        "Default: not added, unless --site is given (then camscan-inventory.db).",
        metavar="PATH",
    ),
]
SiteOption = Annotated[
    str | None,
    typer.Option(
        "--site",
        help="The inventory site of this run (default: default); implies --db.",
        metavar="NAME",
        callback=_check_site,
    ),
]


def add_to_inventory(result: object, db: str | None, site: str | None) -> None:
    """After a run: add its device list to the inventory when --db or --site was given."""
    if db is None and site is None:
        return
    from camscan.inventory import add_result

    add_result(result, db, site)  # type: ignore[arg-type]
