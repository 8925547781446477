"""`camscan inventory export`: the inventory as one JSON device list (the exchange format),
valid against the device-list schema. Each device is its entry from the scan that last named
it, with its ip and MAC as last seen and a note saying where and when it was seen."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from camscan import __version__
from camscan.inventory.report import build_report
from camscan.inventory.store import iso
from camscan.model import SCHEMA_ID, SCHEMA_VERSION

END_OF_TIME = "9999-12-31T23:59:59.999Z"


def export_document(
    conn: sqlite3.Connection, *, site: str | None = None, include_gone: bool = False
) -> dict[str, Any]:
    report = build_report(conn, site=site, as_of=END_OF_TIME)
    present = {r.id: r for r in report.devices if include_gone or r.present}
    devices = []
    ids = sorted(present)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        marks = ",".join("?" * len(part))
        for dev_id, text in conn.execute(
            f"SELECT id, device_json FROM devices WHERE id IN ({marks})",  # noqa: S608 - marks
            part,
        ):
            r = present[dev_id]
            d = json.loads(text)
            d["ip"] = r.ip
            if r.mac:
                d["mac"] = r.mac
            note = (
                f"inventory: device {dev_id}, site {r.site}; first seen {r.first_seen}, last "
                f"seen {r.last_seen}" + ("" if r.present else " (gone from its site's round)")
            )
            d["notes"] = [*(d.get("notes") or []), note]
            devices.append(d)
    devices.sort(key=lambda d: (str(d.get("ip") or ""), str(d.get("mac") or "")))
    query = "SELECT mode, started_at, finished_at, targets FROM scans"
    if site:
        query += " WHERE site_id = (SELECT id FROM sites WHERE name = ?)"
    scans = conn.execute(query, (site,) if site else ()).fetchall()
    targets: dict[str, None] = {}
    for *_, t in scans:
        targets.update(dict.fromkeys(json.loads(t)))
    now = iso(time.time())
    info = {
        "started_at": min((s[1] for s in scans), default=now),
        "finished_at": max((s[2] or s[1] for s in scans), default=now),
        "camscan_version": __version__,
        "mode": "active" if any(s[0] == "active" for s in scans) or not scans else "passive",
        "targets": list(targets),
        "modules": ["inventory"],
        "policy": report.policy,
        "partial": False,
        "warnings": [],
    }
    return {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "scan": info,
        "devices": devices,
        "summary": _summary(devices),
    }


def _summary(devices: list[dict[str, Any]]) -> dict[str, Any]:
    by_manufacturer: dict[str, int] = {}
    for d in devices:
        if d.get("is_surveillance") or d.get("manufacturer"):
            key = d.get("manufacturer") or "unknown"
            by_manufacturer[key] = by_manufacturer.get(key, 0) + 1
    return {
        "total": len(devices),
        "surveillance": sum(1 for d in devices if d.get("is_surveillance")),
        "restricted": sum(1 for d in devices if d.get("restricted_by")),
        "by_manufacturer": dict(sorted(by_manufacturer.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
