"""The replacement plan: devices with a replacement priority grouped by what they are
(manufacturer, brand, model) and by where they are (a `location` field when the list has one,
else the /24 or /64 subnet), counted per priority, and costed from an optional price list."""

from __future__ import annotations

import csv
import ipaddress
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from camscan.errors import UsageError

PRIORITY_LABELS = {
    1: "replace first: restricted, known exploited firmware",
    2: "replace: restricted",
    3: "verify the maker",
    4: "review",
    5: "keep",
}
REQUIRED = (1, 2)  # the budget that must be spent
CONTINGENT = (3, 4)  # spent only if verification/review says so
MAX_REASONS_PER_ROW = 6
_KEY_HEADERS = ("model", "device_type", "model_or_device_type", "item")


@dataclass(slots=True)
class PlanRow:
    priority: int
    manufacturer: str | None
    brand: str | None
    model: str | None
    device_type: str
    count: int = 0
    unit_cost: float | None = None
    reasons: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)

    @property
    def cost(self) -> float | None:
        return None if self.unit_cost is None else self.unit_cost * self.count

    def to_json(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "manufacturer": self.manufacturer,
            "brand": self.brand,
            "model": self.model,
            "device_type": self.device_type,
            "count": self.count,
            "unit_cost": self.unit_cost,
            "cost": self.cost,
            "reasons": list(self.reasons),
            "ips": list(self.ips),
        }


@dataclass(slots=True)
class LocationRow:
    location: str
    counts: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "counts": _str_keys(self.counts), "total": self.total}


@dataclass(slots=True)
class Plan:
    rows: list[PlanRow]
    locations: list[LocationRow]
    counts: dict[int, int]  # priority -> devices
    budget: dict[int, float]  # priority -> cost of the priced devices
    unpriced: dict[int, int]  # priority -> devices without a price
    priced: bool  # a price list was given

    @property
    def required_total(self) -> float:
        return sum(self.budget.get(p, 0.0) for p in REQUIRED)

    @property
    def contingent_total(self) -> float:
        return sum(self.budget.get(p, 0.0) for p in CONTINGENT)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": _str_keys(self.counts),
            "budget": _str_keys(self.budget) if self.priced else None,
            "required_total": self.required_total if self.priced else None,
            "contingent_total": self.contingent_total if self.priced else None,
            "unpriced": _str_keys(self.unpriced) if self.priced else None,
            "rows": [r.to_json() for r in self.rows],
            "locations": [loc.to_json() for loc in self.locations],
        }


def _str_keys(d: dict[int, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in sorted(d.items())}


def location_of(device: dict[str, Any]) -> str:
    loc = device.get("location")
    if isinstance(loc, str) and loc.strip():
        return loc.strip()
    try:
        ip = ipaddress.ip_address(device.get("ip") or "")
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def price_for(device: dict[str, Any], prices: dict[str, float] | None) -> float | None:
    if not prices:
        return None
    for key in (device.get("model"), device.get("device_type")):
        if isinstance(key, str) and key.casefold() in prices:
            return prices[key.casefold()]
    return None


def build_plan(devices: list[dict[str, Any]], prices: dict[str, float] | None = None) -> Plan:
    """Plan from device-list JSON devices; devices without a replacement entry are left out."""
    rows: dict[tuple[Any, ...], PlanRow] = {}
    where: dict[str, Counter[int]] = defaultdict(Counter)
    counts: Counter[int] = Counter()
    budget: dict[int, float] = defaultdict(float)
    unpriced: Counter[int] = Counter()
    for d in devices:
        rep = d.get("replacement")
        if not isinstance(rep, dict) or not isinstance(rep.get("priority"), int):
            continue
        prio = rep["priority"]
        unit = price_for(d, prices)
        key = (
            prio,
            d.get("manufacturer"),
            d.get("brand"),
            d.get("model"),
            d.get("device_type"),
            unit,
        )
        row = rows.get(key)
        if row is None:
            row = rows[key] = PlanRow(
                prio,
                d.get("manufacturer"),
                d.get("brand"),
                d.get("model"),
                str(d.get("device_type") or "unknown"),
                unit_cost=unit,
            )
        row.count += 1
        if d.get("ip"):
            row.ips.append(str(d["ip"]))
        for reason in rep.get("reasons") or []:
            if reason not in row.reasons and len(row.reasons) < MAX_REASONS_PER_ROW:
                row.reasons.append(str(reason))
        counts[prio] += 1
        where[location_of(d)][prio] += 1
        if unit is None:
            unpriced[prio] += 1
        else:
            budget[prio] += unit
    ordered = sorted(
        rows.values(),
        key=lambda r: (
            r.priority,
            -r.count,
            r.manufacturer or "\uffff",
            r.brand or "",
            r.model or "",
        ),
    )
    locations = [LocationRow(loc, dict(sorted(c.items()))) for loc, c in where.items()]
    locations.sort(key=lambda lr: (min(lr.counts), -lr.total, lr.location))
    return Plan(
        rows=ordered,
        locations=locations,
        counts=dict(sorted(counts.items())),
        budget=dict(sorted(budget.items())),
        unpriced=dict(sorted(unpriced.items())),
        priced=bool(prices),
    )


def load_prices(path: str) -> dict[str, float]:
    """A price CSV: header `model,unit_cost` (or `device_type,unit_cost`), then one row per
    model or device type. Keys are matched case-insensitively, a model before a device type.
    Bad rows are one-line UsageErrors naming the line."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: not a UTF-8 CSV file: {exc}") from None
    lines = [(n, r) for n, r in enumerate(rows, 1) if r and any(c.strip() for c in r)]
    lines = [(n, r) for n, r in lines if not r[0].lstrip().startswith("#")]
    if not lines:
        raise UsageError(f"{path}: empty price list (expected a header 'model,unit_cost')")
    n, header = lines[0]
    head = [h.strip().casefold() for h in header]
    if len(head) != 2 or head[0] not in _KEY_HEADERS or head[1] != "unit_cost":
        raise UsageError(f"{path}:{n}: header must be 'model,unit_cost' or 'device_type,unit_cost'")
    prices: dict[str, float] = {}
    for n, row in lines[1:]:
        if len(row) != 2:
            raise UsageError(f"{path}:{n}: expected 2 columns, got {len(row)}")
        key, raw = row[0].strip(), row[1].strip()
        if not key:
            raise UsageError(f"{path}:{n}: empty model or device type")
        try:
            cost = float(raw)
        except ValueError:
            raise UsageError(f"{path}:{n}: unit_cost {raw[:30]!r} is not a number") from None
        if not math.isfinite(cost) or cost < 0:
            raise UsageError(f"{path}:{n}: unit_cost must be a finite number >= 0")
        if key.casefold() in prices:
            raise UsageError(f"{path}:{n}: {key[:40]!r} is priced twice")
        prices[key.casefold()] = cost
    return prices
