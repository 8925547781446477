"""Writing and reading device lists: JSON (the contract), CSV, and atomic file replacement."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from camscan.errors import DeviceListError, UsageError
from camscan.schema import validate_device_list

CSV_COLUMNS = (
    "ip", "mac", "hostname", "manufacturer", "brand", "model", "firmware", "serial",
    "device_type", "is_surveillance", "confidence", "restricted_by", "vulnerabilities",
    "priority", "reasons", "services", "notes",
)  # fmt: skip
CSV_CELL_LIMIT = 8192  # characters; 16 notes of 300 fit


def check_writable(path: str | None) -> None:
    """Fail before a scan starts when an output path cannot be written."""
    if path is None or path == "-":
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{path}: not writable")


def atomic_write(path: str | Path, text: str) -> None:
    """Replace path with text in one step: readers see the old file or the new one."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a report should read like any file
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str, text: str) -> None:
    """'-' writes to stdout, anything else atomically to the file."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


def dump_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_device_list(doc: dict[str, Any], path: str) -> None:
    validate_device_list(doc, "output")
    write_text(path, dump_json(doc))


def load_device_list(path: str) -> dict[str, Any]:
    """Read and validate a device list; every problem is a one-line DeviceListError."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise DeviceListError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeviceListError(f"{path}: not JSON: {exc}") from None
    validate_device_list(doc, path)
    return doc


def csv_text(doc: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for d in doc["devices"]:
        rep = d.get("replacement") or {}
        writer.writerow(
            [
                *(_cell(d.get(c)) for c in CSV_COLUMNS[:11]),
                _cell(";".join(d.get("restricted_by") or [])),
                _cell(";".join(v["id"] for v in d.get("vulnerabilities") or [])),
                _cell(rep.get("priority")),
                _cell("; ".join(rep.get("reasons") or [])),
                _cell(";".join(f"{s['port']}/{s['transport']}" for s in d.get("services") or [])),
                _cell(" | ".join(d.get("notes") or [])),
            ]
        )
    return buf.getvalue()


def _cell(value: Any) -> str:
    """Control and invisible characters made visible (a CSV may be printed to a terminal),
    and formulas neutralised."""
    from camscan.report.sanitize import visible  # camscan.report imports this module

    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    text = visible(text, CSV_CELL_LIMIT)
    # A cell starting with = + - @ is a formula in spreadsheets: neutralise (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_csv(doc: dict[str, Any], path: str) -> None:
    write_text(path, csv_text(doc))


def read_json_file(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise DeviceListError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeviceListError(f"{path}: not JSON: {exc}") from None
