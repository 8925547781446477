"""The inventory: every scan of every site in one SQLite file (see SCHEMA.md).

open_inventory(path, create=True) -> sqlite3.Connection
add_document(conn, doc, site, source=None) -> AddResult      one scan, one transaction
build_report(conn, ...) -> InventoryReport                   restricted now, replaced, ...
export_document(conn, site=None, include_gone=False) -> device list (JSON)
add_result(result, db, site)                                 scan/passive --db/--site
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from camscan.errors import CamscanError
from camscan.inventory.db import DEFAULT_DB, InventoryError, open_inventory
from camscan.inventory.store import AddResult, add_document, check_site

if TYPE_CHECKING:
    from camscan.model import ScanResult

DEFAULT_SITE = "default"

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_SITE",
    "AddResult",
    "InventoryError",
    "add_document",
    "add_result",
    "added_line",
    "check_db",
    "check_db_path",
    "open_inventory",
]


def added_line(res: AddResult, db: str, source: str | None = None) -> str:
    what = source or "the device list"
    if res.duplicate_of is not None:
        return (
            f"{what}: already in {db} as scan {res.duplicate_of} of site {res.site!r}; "
            "nothing added"
        )
    how = ", ".join(f"{n} by {k}" for k, n in sorted(res.matched.items()))
    joined = f"{res.devices - res.new_devices} known ({how})" if how else "0 known"
    return (
        f"added {what} to {db} as scan {res.scan_id} of site {res.site!r}: {res.devices} "
        f"devices, {res.new_devices} new, {joined}; {res.restricted} restricted"
    )


def check_db(db: str | None, site: str | None) -> None:
    """Before a run: the inventory options are usable (the file, if any, is an inventory
    this camscan can write; the site has a name). Raises InventoryError."""
    if db is None and site is None:
        return
    if site is not None:
        check_site(site)
    check_db_path(db or DEFAULT_DB)


def check_db_path(db: str) -> None:
    """The inventory file can be written: an inventory this camscan reads, or a new file in
    a writable directory (nothing is created here)."""
    from pathlib import Path

    if Path(db).exists() and not Path(db).is_dir():
        open_inventory(db, create=False).close()
        return
    if Path(db).is_dir():
        raise InventoryError(f"{db}: is a directory, not an inventory file")
    from camscan.output import check_writable

    try:
        check_writable(db)
    except CamscanError as exc:
        raise InventoryError(str(exc)) from None


def add_result(result: ScanResult, db: str | None, site: str | None) -> None:
    """`scan --db/--site` and `passive --db/--site`: add the finished list; nothing without
    either option. One line on stderr says what was added."""
    if db is None and site is None:
        return
    path = db or DEFAULT_DB
    conn = open_inventory(path)
    try:
        res = add_document(conn, result.to_json(), site or DEFAULT_SITE)
    finally:
        conn.close()
    sys.stderr.write(f"camscan: {added_line(res, path)}\n")
