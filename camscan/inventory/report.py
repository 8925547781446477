"""What `camscan inventory report` shows, computed once from the inventory for every format.

Words, as the report uses them (all times UTC; a "day" is the date of a scan's start):
  * a site's *round*: the day of its latest complete active scan (its latest scan of any kind
    when it has no complete active one). Passive captures and partial scans add sightings but
    do not prove a device gone: a capture hears only the devices that talk.
  * *present*: seen at its site on or after the start of that site's round.
  * *restricted now*: present, and restricted as last named (a sighting that names no maker,
    e.g. a capture that heard only ARP, keeps the earlier verdict).
  * *replaced*: restricted as last seen, and no longer present (with --since: last seen on or
    after that date, i.e. gone since then).
  * *new restricted*: restricted, present, first seen on or after --since; without --since,
    first seen in its site's latest round after that site's first scan (the first scan of a
    site is its baseline: nothing in it is new).
  * *stale*: any device not seen for --stale-days days before --as-of.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from camscan.inventory.store import iso, parse_time

DEFAULT_STALE_DAYS = 90


@dataclass(slots=True)
class DeviceRow:
    id: int
    site: str
    ip: str | None
    mac: str | None
    manufacturer: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    device_type: str | None
    restricted_by: list[str]
    priority: int | None
    first_seen: str
    last_seen: str
    sites: list[str]
    present: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "device_id": self.id,
            "site": self.site,
            "ip": self.ip,
            "mac": self.mac,
            "manufacturer": self.manufacturer,
            "brand": self.brand,
            "model": self.model,
            "firmware": self.firmware,
            "device_type": self.device_type,
            "restricted_by": list(self.restricted_by),
            "priority": self.priority,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "sites": list(self.sites),
            "present": self.present,
        }


@dataclass(slots=True)
class SiteSummary:
    name: str
    scans: int = 0
    first_scan: str | None = None
    last_scan: str | None = None
    round_day: str | None = None
    devices: int = 0  # present now
    restricted_now: int = 0
    replaced: int = 0
    new_restricted: int = 0
    stale: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.name,
            "scans": self.scans,
            "first_scan": self.first_scan,
            "last_scan": self.last_scan,
            "round": self.round_day,
            "devices": self.devices,
            "restricted_now": self.restricted_now,
            "replaced": self.replaced,
            "new_restricted": self.new_restricted,
            "stale": self.stale,
        }


@dataclass(slots=True)
class Point:
    day: str
    total: int
    by_site: dict[str, int]


@dataclass(slots=True)
class InventoryReport:
    as_of: str
    since: str | None
    stale_days: int
    site_filter: str | None
    overall: SiteSummary
    sites: list[SiteSummary]
    restricted_now: list[DeviceRow]
    replaced: list[DeviceRow]
    new_restricted: list[DeviceRow]
    stale: list[DeviceRow]
    series: list[Point]
    policy: list[str] = field(default_factory=list)
    devices: list[DeviceRow] = field(default_factory=list)  # every device of the site(s)

    def pace(self) -> str | None:
        """How fast restricted devices go, from the first point of the chart to the last,
        and when the last one would go at that pace; None without two points or progress."""
        if len(self.series) < 2:
            return None
        first, last = self.series[0], self.series[-1]
        days = (_day(last.day) - _day(first.day)).days
        gone = first.total - last.total
        if days <= 0:
            return None
        if gone <= 0:
            return (
                f"restricted devices went from {first.total} to {last.total} between "
                f"{first.day} and {last.day}: no progress to project"
            )
        per_day = gone / days
        if last.total == 0:
            return f"no restricted device left ({gone} gone since {first.day})"
        done = _day(last.day) + dt.timedelta(days=round(last.total / per_day))
        return (
            f"{gone} fewer restricted devices since {first.day} ({per_day * 30:.1f} per 30 "
            f"days); at that pace the last of {last.total} goes about {done.isoformat()}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "camscan/inventory-report",
            "schema_version": 1,
            "as_of": self.as_of,
            "since": self.since,
            "stale_days": self.stale_days,
            "site": self.site_filter,
            "policy": list(self.policy),
            "overall": self.overall.to_json(),
            "sites": [s.to_json() for s in self.sites],
            "restricted_now": [d.to_json() for d in self.restricted_now],
            "replaced": [d.to_json() for d in self.replaced],
            "new_restricted": [d.to_json() for d in self.new_restricted],
            "stale": [d.to_json() for d in self.stale],
            "restricted_over_time": [
                {"day": p.day, "restricted": p.total, "by_site": p.by_site} for p in self.series
            ],
            "pace": self.pace(),
        }


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


def parse_when(text: str, option: str, end_of_day: bool = False) -> str:
    """A date (YYYY-MM-DD) or ISO date-time -> the inventory's time format."""
    from camscan.inventory.db import InventoryError

    value = text.strip()
    if len(value) == 10:
        value += "T23:59:59.999Z" if end_of_day else "T00:00:00Z"
    ts = parse_time(value)
    if ts is None:
        raise InventoryError(f"{option}: {text!r} is not a date (YYYY-MM-DD) or ISO date-time")
    return iso(ts)


def build_report(
    conn: sqlite3.Connection,
    *,
    as_of: str | None = None,
    since: str | None = None,
    stale_days: int = DEFAULT_STALE_DAYS,
    site: str | None = None,
) -> InventoryReport:
    """as_of / since: inventory-format times (parse_when); as_of defaults to now."""
    as_of = as_of or iso(time.time())
    site_names = dict(conn.execute("SELECT id, name FROM sites"))
    if site is not None and site not in site_names.values():
        from camscan.inventory.db import InventoryError

        known = ", ".join(sorted(site_names.values())) or "none yet"
        raise InventoryError(f"--site: no site {site!r} in the inventory (sites: {known})")
    scans = conn.execute(
        "SELECT site_id, started_at, mode, partial, policy FROM scans WHERE started_at <= ? "
        "ORDER BY started_at",
        (as_of,),
    ).fetchall()
    scan_days: dict[int, list[str]] = {}
    complete_days: dict[int, list[str]] = {}
    policy: dict[str, None] = {}
    summaries = {sid: SiteSummary(name) for sid, name in site_names.items()}
    for site_id, started, mode, partial, pol in scans:
        day = started[:10]
        scan_days.setdefault(site_id, []).append(day)
        if mode == "active" and not partial:
            complete_days.setdefault(site_id, []).append(day)
        s = summaries[site_id]
        s.scans += 1
        s.first_scan = s.first_scan or started
        s.last_scan = started
        policy.update(dict.fromkeys(json.loads(pol)))
    rounds = {sid: sorted(set(complete_days.get(sid) or days)) for sid, days in scan_days.items()}
    round_day = {sid: r[-1] for sid, r in rounds.items()}
    first_day = {sid: days[0] for sid, days in scan_days.items()}
    for sid, s in summaries.items():
        s.round_day = round_day.get(sid)

    stale_before = iso(parse_time(as_of) - stale_days * 86400)  # type: ignore[operator]
    rows: dict[int, DeviceRow] = {}
    restricted_seen: dict[int, dict[str, set[int]]] = {}  # site -> day -> restricted devices
    cursor = conn.execute(
        "SELECT device_id, site_id, seen_at, ip, mac, manufacturer, brand, model, firmware, "
        "device_type, restricted_by, priority FROM sightings WHERE seen_at <= ? "
        "ORDER BY device_id, seen_at, scan_id",
        (as_of,),
    )
    device_sites: dict[int, dict[str, None]] = {}
    for dev, sid, seen, ip, mac, maker, brand, model, fw, dtype, rby, prio in cursor:
        name = site_names[sid]
        row = rows.get(dev)
        if row is None:
            row = rows[dev] = DeviceRow(
                dev, name, ip, mac, maker, brand, model, fw, dtype,
                rby.split(",") if rby else [], prio, seen, seen, [], False,
            )  # fmt: skip
        row.site, row.ip, row.last_seen = name, ip, seen
        row.mac = mac or row.mac
        if maker is not None or row.manufacturer is None:
            row.manufacturer, row.brand, row.model, row.firmware = maker, brand, model, fw
            row.device_type, row.priority = dtype, prio
            row.restricted_by = rby.split(",") if rby else []
        device_sites.setdefault(dev, {})[name] = None
        if rby:
            restricted_seen.setdefault(sid, {}).setdefault(seen[:10], set()).add(dev)
    ids_by_name = {name: sid for sid, name in site_names.items()}
    restricted_now, replaced, new_restricted, stale = [], [], [], []
    for row in rows.values():
        sid = ids_by_name[row.site]
        row.sites = list(device_sites[row.id])
        row.present = row.last_seen[:10] >= round_day.get(sid, "")
        s = summaries[sid]
        if row.present:
            s.devices += 1
        if row.last_seen < stale_before:
            stale.append(row)
            s.stale += 1
        if not row.restricted_by:
            continue
        if row.present:
            restricted_now.append(row)
            s.restricted_now += 1
            if since is not None:
                new = row.first_seen >= since
            else:
                day = row.first_seen[:10]
                new = day >= round_day.get(sid, "") and day > first_day.get(sid, "")
            if new:
                new_restricted.append(row)
                s.new_restricted += 1
        elif since is None or row.last_seen >= since:
            replaced.append(row)
            s.replaced += 1

    def keep(rows_: list[DeviceRow]) -> list[DeviceRow]:
        chosen = [r for r in rows_ if site is None or r.site == site]
        return sorted(chosen, key=lambda r: (r.site, _ip_key(r.ip), r.mac or "", r.id))

    site_list = sorted(
        (s for s in summaries.values() if site is None or s.name == site),
        key=lambda s: s.name.casefold(),
    )
    overall = SiteSummary("all sites" if site is None else site)
    for s in site_list:
        overall.scans += s.scans
        for attr in ("devices", "restricted_now", "replaced", "new_restricted", "stale"):
            setattr(overall, attr, getattr(overall, attr) + getattr(s, attr))
        if s.first_scan and (overall.first_scan is None or s.first_scan < overall.first_scan):
            overall.first_scan = s.first_scan
        if s.last_scan and (overall.last_scan is None or s.last_scan > overall.last_scan):
            overall.last_scan = s.last_scan
    wanted = {ids_by_name[s.name] for s in site_list}
    series = _series(scans, rounds, restricted_seen, site_names, wanted)
    return InventoryReport(
        as_of=as_of,
        since=since,
        stale_days=stale_days,
        site_filter=site,
        overall=overall,
        sites=site_list,
        restricted_now=keep(restricted_now),
        replaced=keep(replaced),
        new_restricted=keep(new_restricted),
        stale=keep(stale),
        series=series,
        policy=list(policy),
        devices=keep(list(rows.values())),
    )


def _series(
    scans: list[tuple[Any, ...]],
    rounds: dict[int, list[str]],
    restricted_seen: dict[int, dict[str, set[int]]],
    site_names: dict[int, str],
    wanted: set[int],
) -> list[Point]:
    """Restricted devices present on each day a scan was made: per site, those seen with a
    restriction from the start of the site's round as of that day up to that day."""
    days = sorted({started[:10] for sid, started, *_ in scans if sid in wanted})
    out = []
    for day in days:
        everyone: set[int] = set()
        by_site: dict[str, int] = {}
        for sid in sorted(wanted, key=lambda i: site_names[i].casefold()):
            site_rounds = rounds.get(sid) or []
            i = bisect.bisect_right(site_rounds, day)
            if i == 0:
                continue  # no round of this site yet on that day
            start = site_rounds[i - 1]
            seen: set[int] = set()
            for d, devs in (restricted_seen.get(sid) or {}).items():
                if start <= d <= day:
                    seen |= devs
            by_site[site_names[sid]] = len(seen)
            everyone |= seen
        out.append(Point(day, len(everyone), by_site))
    return out


def _ip_key(ip: str | None) -> tuple[int, ...]:
    if not ip:
        return (999,)
    try:
        return tuple(int(p) for p in ip.split("."))
    except ValueError:
        return (998,)
