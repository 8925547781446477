"""The inventory file: one SQLite database (stdlib sqlite3), WAL mode, every change in one
transaction. Its layout is versioned (PRAGMA user_version) and marked as camscan's
(PRAGMA application_id); see SCHEMA.md for the tables.

Opening a file:
  * missing: created (writers only; readers say there is no inventory there);
  * an older layout: migrated in one transaction, the steps in MIGRATIONS;
  * a newer layout, another program's SQLite file, or not SQLite at all: refused, one line.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

from camscan.errors import CamscanError

DEFAULT_DB = "camscan-inventory.db"
APPLICATION_ID = 0x63616D73  # "cams"
SCHEMA_NAME = "camscan/inventory"
BUSY_TIMEOUT_MS = 60_000  # a second writer waits this long for the first to commit
SQLITE_MAGIC = b"SQLite format 3\x00"


class InventoryError(CamscanError):
    """An inventory file that cannot be used (one line; exit 2)."""


# MIGRATIONS[n] takes a file from layout version n to n + 1; a new file runs them all.
# Version 1 is the first layout. A later camscan appends steps and never edits old ones.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE inventory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sites (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id),
        doc_sha256 TEXT NOT NULL UNIQUE,
        run_key TEXT NOT NULL UNIQUE,
        mode TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        partial INTEGER NOT NULL DEFAULT 0,
        targets TEXT NOT NULL,
        modules TEXT NOT NULL,
        policy TEXT NOT NULL,
        camscan_version TEXT,
        source TEXT,
        added_at TEXT NOT NULL,
        devices INTEGER NOT NULL,
        restricted INTEGER NOT NULL
    );
    CREATE INDEX scans_site ON scans(site_id, started_at);
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        mac TEXT,
        serial TEXT,
        ip TEXT,
        site_id INTEGER REFERENCES sites(id),
        hostname TEXT,
        mac_vendor TEXT,
        manufacturer TEXT,
        brand TEXT,
        model TEXT,
        firmware TEXT,
        device_type TEXT,
        is_surveillance INTEGER NOT NULL DEFAULT 0,
        restricted_by TEXT NOT NULL DEFAULT '',
        restricted INTEGER NOT NULL DEFAULT 0,
        priority INTEGER,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        first_scan_id INTEGER REFERENCES scans(id),
        last_scan_id INTEGER REFERENCES scans(id),
        device_json TEXT NOT NULL
    );
    CREATE INDEX devices_mac ON devices(mac);
    CREATE INDEX devices_serial ON devices(lower(trim(serial)));
    CREATE INDEX devices_site_ip ON devices(site_id, ip);
    CREATE TABLE sightings (
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        device_id INTEGER NOT NULL REFERENCES devices(id),
        site_id INTEGER NOT NULL REFERENCES sites(id),
        seen_at TEXT NOT NULL,
        matched_by TEXT NOT NULL,
        ip TEXT,
        mac TEXT,
        manufacturer TEXT,
        brand TEXT,
        model TEXT,
        firmware TEXT,
        device_type TEXT,
        restricted_by TEXT NOT NULL DEFAULT '',
        restricted INTEGER NOT NULL DEFAULT 0,
        priority INTEGER,
        PRIMARY KEY (scan_id, device_id)
    );
    CREATE INDEX sightings_device ON sightings(device_id, seen_at);
    CREATE INDEX sightings_site ON sightings(site_id, seen_at);
    CREATE VIEW device_sites AS
        SELECT s.device_id, s.site_id, sites.name AS site, MIN(s.seen_at) AS first_seen,
               MAX(s.seen_at) AS last_seen, COUNT(*) AS scans
        FROM sightings AS s JOIN sites ON sites.id = s.site_id
        GROUP BY s.device_id, s.site_id;
    CREATE VIEW device_history AS
        WITH named AS (
            SELECT device_id, scan_id, seen_at, manufacturer, model, firmware, restricted_by,
                   priority,
                   LAG(manufacturer) OVER w AS prev_manufacturer,
                   LAG(model) OVER w AS prev_model,
                   LAG(firmware) OVER w AS prev_firmware,
                   LAG(restricted_by) OVER w AS prev_restricted_by,
                   LAG(priority) OVER w AS prev_priority,
                   ROW_NUMBER() OVER w AS n
            FROM sightings WHERE manufacturer IS NOT NULL
            WINDOW w AS (PARTITION BY device_id ORDER BY seen_at, scan_id)
        )
        SELECT device_id, scan_id, seen_at AS changed_at, 'manufacturer' AS field,
               prev_manufacturer AS old_value, manufacturer AS new_value
          FROM named WHERE n = 1 OR manufacturer IS NOT prev_manufacturer
        UNION ALL
        SELECT device_id, scan_id, seen_at, 'model', prev_model, model
          FROM named WHERE (n = 1 AND model IS NOT NULL) OR (n > 1 AND model IS NOT prev_model)
        UNION ALL
        SELECT device_id, scan_id, seen_at, 'firmware', prev_firmware, firmware
          FROM named
          WHERE (n = 1 AND firmware IS NOT NULL) OR (n > 1 AND firmware IS NOT prev_firmware)
        UNION ALL
        SELECT device_id, scan_id, seen_at, 'restricted_by', prev_restricted_by, restricted_by
          FROM named WHERE n = 1 OR restricted_by IS NOT prev_restricted_by
        UNION ALL
        SELECT device_id, scan_id, seen_at, 'priority', CAST(prev_priority AS TEXT),
               CAST(priority AS TEXT)
          FROM named
          WHERE (n = 1 AND priority IS NOT NULL) OR (n > 1 AND priority IS NOT prev_priority);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def open_inventory(path: str | os.PathLike[str], *, create: bool = True) -> sqlite3.Connection:
    """A connection to the inventory at `path`, at the current layout (created or migrated
    when needed). Autocommit mode: callers group their changes with `transaction()`."""
    name = str(path)
    target = Path(path)
    if target.is_dir():
        raise InventoryError(f"{name}: is a directory, not an inventory file")
    if not target.exists() or target.stat().st_size == 0:
        if not create:
            raise InventoryError(
                f"{name}: no inventory here (camscan inventory add DEVICES.json --db {name} "
                "creates it)"
            )
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            raise InventoryError(f"{name}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise InventoryError(f"{name}: directory {parent} is not writable")
        if not target.exists():
            _create(target, name)
    else:
        _check_header(target, name)
    try:
        conn = sqlite3.connect(name, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise InventoryError(f"{name}: cannot open: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_version(conn, name)  # reads only: a foreign file is never changed
        if _version(conn) < SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode = WAL")
            _migrate(conn, name)
        else:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InventoryError(f"{name}: not a usable camscan inventory: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _create(target: Path, name: str) -> None:
    """A new inventory is built whole in a private file and linked into place, so a process
    opening the path sees no file or a finished one. Two processes creating it at once: one
    link wins, the other finds the file and opens it (migrating an empty file in place let
    the loser's WAL switch fail with "database is locked" under load)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            _migrate(conn, name)
        finally:
            conn.close()  # the last connection checkpoints the WAL into the file
        try:
            os.link(tmp, target)
        except FileExistsError:
            pass
        except OSError:
            pass  # no hard links here (some network file systems): migrated in place instead
    except sqlite3.Error as exc:
        raise InventoryError(f"{name}: cannot create: {exc}") from None
    finally:
        for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _check_header(target: Path, name: str) -> None:
    try:
        with target.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InventoryError(f"{name}: cannot read: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise InventoryError(f"{name}: not a camscan inventory (not an SQLite file)")


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check_version(conn: sqlite3.Connection, name: str) -> None:
    # One statement, so one snapshot: read apart, another process's migration could commit
    # between the reads (application id still 0, version already 1: "not an inventory").
    app_id, version, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id), "
        "(SELECT user_version FROM pragma_user_version), "
        "(SELECT count(*) FROM sqlite_master)"
    ).fetchone()
    if app_id == 0 and version == 0:
        if tables:
            raise InventoryError(
                f"{name}: not a camscan inventory (an SQLite file of another program)"
            )
        return
    if app_id != APPLICATION_ID:
        raise InventoryError(f"{name}: not a camscan inventory (an SQLite file of another program)")
    if version > SCHEMA_VERSION:
        raise InventoryError(
            f"{name}: inventory layout version {version} was written by a newer camscan; "
            f"this camscan reads up to version {SCHEMA_VERSION}"
        )


def _migrate(conn: sqlite3.Connection, name: str) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction (another process may be doing the
    same: the version is read again under the write lock)."""
    with transaction(conn):
        _check_version(conn, name)
        start = _version(conn)
        for step in MIGRATIONS[start:]:
            for statement in _statements(step):
                conn.execute(statement)
        if start < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(
                "INSERT OR REPLACE INTO inventory_meta (key, value) VALUES "
                "('schema', ?), ('schema_version', ?)",
                (SCHEMA_NAME, str(SCHEMA_VERSION)),
            )


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit the transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


class transaction:  # noqa: N801 - used like a function: `with transaction(conn):`
    """BEGIN IMMEDIATE (the write lock up front: two writers queue instead of failing half
    way) ... COMMIT, or ROLLBACK on any exception, Ctrl-C included."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
