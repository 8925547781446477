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
    "priority", "reasons", "services", "mac_vendor", "notes",
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
                _cell(d.get("mac_vendor")),
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


# -- where a scan's results go (scan, passive, demo) -----------------------------------------
WARNINGS_SHOWN = 3


def json_destination(output: str | None, quiet: bool) -> str | None:
    """The effective `-o`: as given; else stdout when stdout is not a terminal (a pipe or a
    file: a tool reads it) or with --quiet (no table is shown there); else nowhere."""
    if output is not None:
        return output
    if quiet or not sys.stdout.isatty():
        return "-"
    return None


def table_stream(output: str | None, quiet: bool) -> str | None:
    """Where the table goes: 'stdout', 'stderr' (stdout carries the JSON and stderr is a
    terminal) or None (quiet, or nobody would read it)."""
    if quiet:
        return None
    if output == "-":
        return "stderr" if sys.stderr.isatty() else None
    return "stdout"


def where_written(output: str | None, csv: str | None, devices: int) -> str:
    """The line after the table: where the data went."""
    parts = []
    if output and output != "-":
        parts.append(f"wrote {devices} devices to {output} (JSON)")
    elif output == "-":
        parts.append(f"wrote {devices} devices to stdout (JSON)")
    if csv:
        parts.append(f"{csv} (CSV)")
    if not parts:
        return (
            "the JSON device list was not saved: add -o devices.json, or redirect stdout "
            "(camscan ... > devices.json)"
        )
    return ", ".join(parts)


def warnings_lines(doc: dict[str, Any], where: str | None) -> list[str]:
    """A count of the run's warnings, the first few, and where the rest are; and, when no
    device was found, a line saying so and why."""
    scan = doc.get("scan") or {}
    warnings = [str(w) for w in scan.get("warnings") or []]
    lines = []
    if warnings:
        shown = warnings[:WARNINGS_SHOWN]
        more = f"; the first {len(shown)}" if len(warnings) > len(shown) else ""
        lines.append(f"{len(warnings)} warning(s){more}:")
        lines.extend(f"  {w}" for w in shown)
        if len(warnings) > len(shown):
            at = f"jq .scan.warnings {where}" if where and where != "-" else "scan.warnings"
            lines.append(f"  ... all {len(warnings)} are in the JSON device list ({at})")
    if not doc.get("devices"):
        targets = ", ".join(map(str, scan.get("targets") or [])) or "the targets"
        if scan.get("mode") == "passive":
            head = f"no device was heard in {targets}"
        else:
            head = f"no device answered on {targets}"
        if warnings:
            lines.append(f"{head}: the warnings above say why")
        elif scan.get("mode") == "passive":
            lines.append(f"{head}: the capture held no packet from a device")
        else:
            lines.append(
                f"{head}: nothing answered a discovery inquiry and no camera port was open "
                "(check the targets, --interface, and firewalls between here and there)"
            )
    return lines


def show_result(doc: dict[str, Any], *, output: str | None, csv: str | None, quiet: bool) -> None:
    """After the data is written: the table where someone reads it, then where the data
    went, the warnings and, when nothing was found, why (scan and passive)."""
    stream = table_stream(output, quiet)
    if stream is not None:
        from camscan.report.table import make_console, print_scan_table

        print_scan_table(doc, make_console(stderr=stream == "stderr"))
    lines = [] if quiet else [where_written(output, csv, len(doc.get("devices") or []))]
    lines += warnings_lines(doc, output)
    for line in lines:
        prefix = "" if line.startswith("  ") else "camscan: "
        sys.stderr.write(f"{prefix}{line}\n")
