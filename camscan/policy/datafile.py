"""Reading camscan's policy data files (YAML) with one-line DataErrors naming file and entry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from camscan.errors import DataError


def fail(path: Path, where: str | None, msg: str) -> DataError:
    return DataError(f"{path.name}: {where}: {msg}" if where else f"{path.name}: {msg}")


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise fail(path, None, f"cannot read: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        first = str(exc).strip().splitlines()
        raise fail(path, None, f"not valid YAML{where}: {first[0] if first else exc}") from None


def text_date(value: Any) -> Any:
    """YAML reads an unquoted 2022-11-24 as a date; give it back as the ISO text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and 1900 <= value <= 2999:
        return str(value)
    return value
