"""Options several commands share, declared once so their names and help stay the same."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PolicyOption = Annotated[
    str | None, typer.Option(help="Regime ids, comma-separated (default: all).")
]
FingerprintsOption = Annotated[
    list[Path] | None, typer.Option(help="Extra directory of fingerprint rules.")
]
OutputOption = Annotated[
    str | None, typer.Option("-o", "--output", help="JSON device list ('-' = stdout).")
]
CsvOption = Annotated[str | None, typer.Option("--csv", help="CSV device list.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")]
