"""Adding a device list to the inventory: one scan, its sightings, and the devices they join.

Devices are joined across scans by MAC, then serial, then site and address; a weaker key never
joins two devices that a stronger one tells apart (same address but another MAC, serial or
named maker is another device). A device already joined in this scan is not joined again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from camscan.inventory.db import InventoryError, transaction
from camscan.schema import validate_device_list

MAX_SITE_NAME = 100


@dataclass(frozen=True, slots=True)
class AddResult:
    scan_id: int
    site: str
    devices: int
    new_devices: int
    matched: dict[str, int]  # mac | serial | address -> devices joined that way
    restricted: int
    duplicate_of: int | None = None  # the scan already in the inventory, when nothing was added


def check_site(site: str) -> str:
    name = " ".join(site.split())
    if not name:
        raise InventoryError("--site: a site needs a name")
    if len(name) > MAX_SITE_NAME or not name.isprintable():
        raise InventoryError(f"--site: at most {MAX_SITE_NAME} printable characters")
    return name


def iso(ts: float) -> str:
    """The one time format of the inventory: UTC, millisecond, sortable as text."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def doc_identity(doc: dict[str, Any]) -> tuple[str, str]:
    """(hash of the document, hash of mode + started_at + targets): the same scan added twice
    matches on either, however the file was re-indented."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    scan = doc.get("scan") or {}
    run = json.dumps(
        [scan.get("mode"), scan.get("started_at"), sorted(map(str, scan.get("targets") or []))]
    )
    return (
        hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        hashlib.sha256(run.encode("utf-8")).hexdigest(),
    )


def _norm(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()


def _conflict(a: Any, b: Any) -> bool:
    x, y = _norm(a), _norm(b)
    return x is not None and y is not None and x != y


def _priority(d: dict[str, Any]) -> int | None:
    rep = d.get("replacement")
    return rep.get("priority") if isinstance(rep, dict) else None


def _restricted_by(d: dict[str, Any]) -> str:
    return ",".join(sorted(str(r) for r in d.get("restricted_by") or []))


def add_document(
    conn: sqlite3.Connection,
    doc: dict[str, Any],
    site: str,
    *,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> AddResult:
    """Add one device list (validated here) as one scan of `site`, in one transaction.
    `progress(n)` is called after each n-th device is stored (inside the transaction)."""
    validate_device_list(doc, source or "device list")
    site = check_site(site)
    doc_hash, run_key = doc_identity(doc)
    scan = doc["scan"]
    started = parse_time(scan.get("started_at"))
    seen_at = iso(started) if started is not None else iso(time.time())
    finished = parse_time(scan.get("finished_at"))
    devices = [d for d in doc["devices"] if isinstance(d, dict)]
    with transaction(conn):
        dup = conn.execute(
            "SELECT scans.id, sites.name FROM scans JOIN sites ON sites.id = scans.site_id "
            "WHERE doc_sha256 = ? OR run_key = ?",
            (doc_hash, run_key),
        ).fetchone()
        if dup is not None:
            if dup[1] != site:
                raise InventoryError(
                    f"{source or 'this scan'}: already in the inventory as scan {dup[0]} of "
                    f"site {dup[1]!r}, not {site!r}"
                )
            return AddResult(dup[0], site, len(devices), 0, {}, 0, duplicate_of=dup[0])
        conn.execute("INSERT OR IGNORE INTO sites (name) VALUES (?)", (site,))
        site_id = conn.execute("SELECT id FROM sites WHERE name = ?", (site,)).fetchone()[0]
        restricted = sum(1 for d in devices if d.get("restricted_by"))
        cur = conn.execute(
            "INSERT INTO scans (site_id, doc_sha256, run_key, mode, started_at, finished_at, "
            "partial, targets, modules, policy, camscan_version, source, added_at, devices, "
            "restricted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                site_id,
                doc_hash,
                run_key,
                scan.get("mode"),
                seen_at,
                iso(finished) if finished is not None else None,
                1 if scan.get("partial") else 0,
                json.dumps(list(scan.get("targets") or [])),
                json.dumps(list(scan.get("modules") or [])),
                json.dumps(list(scan.get("policy") or [])),
                scan.get("camscan_version"),
                source,
                iso(time.time()),
                len(devices),
                restricted,
            ),
        )
        scan_id = int(cur.lastrowid or 0)
        joined = _join(conn, devices, site_id)
        matched: dict[str, int] = {}
        new = 0
        for n, (d, (device_id, how)) in enumerate(zip(devices, joined, strict=True), 1):
            if device_id is None:
                device_id = _insert_device(conn, d, site_id, scan_id, seen_at)
                new += 1
            else:
                matched[how] = matched.get(how, 0) + 1
                _update_device(conn, device_id, d, site_id, scan_id, seen_at)
            _insert_sighting(conn, scan_id, device_id, site_id, seen_at, how, d)
            if progress is not None:
                progress(n)
    return AddResult(scan_id, site, len(devices), new, matched, restricted)


_DEVICE_COLS = "id, mac, serial, manufacturer"


def _join(
    conn: sqlite3.Connection, devices: list[dict[str, Any]], site_id: int
) -> list[tuple[int | None, str]]:
    """For each incoming device, (inventory device id or None, how it was joined)."""
    out: list[tuple[int | None, str]] = [(None, "new")] * len(devices)
    taken: set[int] = set()

    def pick(i: int, rows: list[tuple[Any, ...]], how: str, must_agree: tuple[str, ...]) -> None:
        d = devices[i]
        for row in rows:
            dev_id, mac, serial, maker = row
            if dev_id in taken:
                continue
            known = {"mac": mac, "serial": serial, "manufacturer": maker}
            if any(_conflict(known[k], d.get(k)) for k in must_agree):
                continue
            out[i] = (dev_id, how)
            taken.add(dev_id)
            return

    for i, d in enumerate(devices):
        mac = _norm(d.get("mac"))
        if mac is not None:
            rows = conn.execute(
                f"SELECT {_DEVICE_COLS} FROM devices WHERE mac = ? "  # noqa: S608 - constant
                "ORDER BY site_id = ? DESC, last_seen DESC",
                (mac, site_id),
            ).fetchall()
            pick(i, rows, "mac", ())
    for i, d in enumerate(devices):
        serial = _norm(d.get("serial"))
        if out[i][0] is None and serial is not None:
            rows = conn.execute(
                f"SELECT {_DEVICE_COLS} FROM devices "  # noqa: S608 - constant
                "WHERE lower(trim(serial)) = ? ORDER BY site_id = ? DESC, last_seen DESC",
                (serial, site_id),
            ).fetchall()
            pick(i, rows, "serial", ("mac",))
    for i, d in enumerate(devices):
        ip = d.get("ip")
        if out[i][0] is None and isinstance(ip, str) and ip:
            rows = conn.execute(
                f"SELECT {_DEVICE_COLS} FROM devices "  # noqa: S608 - constant
                "WHERE site_id = ? AND ip = ? ORDER BY last_seen DESC",
                (site_id, ip),
            ).fetchall()
            pick(i, rows, "address", ("mac", "serial", "manufacturer"))
    return out


def _assessment(d: dict[str, Any]) -> dict[str, Any]:
    restricted_by = _restricted_by(d)
    return {
        "manufacturer": d.get("manufacturer"),
        "brand": d.get("brand"),
        "model": d.get("model"),
        "firmware": d.get("firmware"),
        "device_type": d.get("device_type"),
        "is_surveillance": 1 if d.get("is_surveillance") else 0,
        "restricted_by": restricted_by,
        "restricted": 1 if restricted_by else 0,
        "priority": _priority(d),
        "device_json": json.dumps(d, ensure_ascii=False, separators=(",", ":")),
    }


def _place(d: dict[str, Any], site_id: int) -> dict[str, Any]:
    """Where a device is and what it is called on the network: the devices columns a
    sighting sets (the assessment aside)."""
    return {
        "mac": _norm(d.get("mac")),
        "serial": d.get("serial"),
        "ip": d.get("ip"),
        "site_id": site_id,
        "hostname": d.get("hostname"),
        "mac_vendor": d.get("mac_vendor"),
    }


def _insert_device(
    conn: sqlite3.Connection, d: dict[str, Any], site_id: int, scan_id: int, seen_at: str
) -> int:
    row = {
        **_place(d, site_id),
        **_assessment(d),
        "first_seen": seen_at,
        "last_seen": seen_at,
        "first_scan_id": scan_id,
        "last_scan_id": scan_id,
    }
    columns = ", ".join(row)  # column names of this module, never input
    marks = ",".join("?" * len(row))
    cur = conn.execute(f"INSERT INTO devices ({columns}) VALUES ({marks})", tuple(row.values()))  # noqa: S608
    return int(cur.lastrowid or 0)


def _update_device(
    conn: sqlite3.Connection,
    device_id: int,
    d: dict[str, Any],
    site_id: int,
    scan_id: int,
    seen_at: str,
) -> None:
    """Fold a sighting into the device's current view. An older scan added late only moves
    first_seen. A sighting that names no maker (a capture that heard only ARP) updates where
    the device is, not what it is: it does not erase what an earlier scan found."""
    first_seen, last_seen, maker = conn.execute(
        "SELECT first_seen, last_seen, manufacturer FROM devices WHERE id = ?", (device_id,)
    ).fetchone()
    if seen_at < first_seen:
        conn.execute(
            "UPDATE devices SET first_seen = ?, first_scan_id = ? WHERE id = ?",
            (seen_at, scan_id, device_id),
        )
    if seen_at < last_seen:
        return
    conn.execute(
        "UPDATE devices SET mac = coalesce(?, mac), serial = coalesce(?, serial), ip = ?, "
        "site_id = ?, hostname = coalesce(?, hostname), mac_vendor = coalesce(?, mac_vendor), "
        "last_seen = ?, last_scan_id = ? WHERE id = ?",
        (*_place(d, site_id).values(), seen_at, scan_id, device_id),  # in _place's order
    )
    if d.get("manufacturer") is None and maker is not None:
        return
    a = _assessment(d)
    assignments = ", ".join(f"{column} = ?" for column in a)  # column names of this module
    conn.execute(
        f"UPDATE devices SET {assignments} WHERE id = ?",  # noqa: S608
        (*a.values(), device_id),
    )


def _insert_sighting(
    conn: sqlite3.Connection,
    scan_id: int,
    device_id: int,
    site_id: int,
    seen_at: str,
    how: str,
    d: dict[str, Any],
) -> None:
    restricted_by = _restricted_by(d)
    conn.execute(
        "INSERT INTO sightings (scan_id, device_id, site_id, seen_at, matched_by, ip, mac, "
        "manufacturer, brand, model, firmware, device_type, restricted_by, restricted, "
        "priority) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            scan_id,
            device_id,
            site_id,
            seen_at,
            how,
            d.get("ip"),
            _norm(d.get("mac")),
            d.get("manufacturer"),
            d.get("brand"),
            d.get("model"),
            d.get("firmware"),
            d.get("device_type"),
            restricted_by,
            1 if restricted_by else 0,
            _priority(d),
        ),
    )
