"""Scan-to-scan diff of two device lists: what was removed, what was added, what changed, and
which restricted devices are still there.

Devices are paired by MAC, then by serial, then by IP. A weaker key never pairs two devices a
stronger key tells apart: same IP but different MACs (or serials, or named makers) is a
replacement, reported as one removed and one added device, not as a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DIFF_SCHEMA = "camscan/diff"
DIFF_SCHEMA_VERSION = 1
COMPARED = (
    "ip",
    "mac",
    "hostname",
    "manufacturer",
    "brand",
    "model",
    "firmware",
    "serial",
    "device_type",
    "is_surveillance",
)

Dev = dict[str, Any]


@dataclass(slots=True)
class Change:
    old: Dev
    new: Dev
    matched_by: str  # mac | serial | ip
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "matched_by": self.matched_by,
            "ip": self.new.get("ip"),
            "mac": self.new.get("mac") or self.old.get("mac"),
            "changes": {k: {"old": a, "new": b} for k, (a, b) in self.fields.items()},
        }


@dataclass(slots=True)
class DiffResult:
    removed: list[Dev]
    added: list[Dev]
    changed: list[Change]
    unchanged: int
    restricted_remaining: list[Dev]
    old_policy: list[str]
    new_policy: list[str]

    @property
    def policy_differs(self) -> bool:
        return sorted(self.old_policy) != sorted(self.new_policy)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": DIFF_SCHEMA,
            "schema_version": DIFF_SCHEMA_VERSION,
            "policy": {"old": self.old_policy, "new": self.new_policy},
            "counts": {
                "removed": len(self.removed),
                "added": len(self.added),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
                "restricted_remaining": len(self.restricted_remaining),
            },
            "removed": [brief(d) for d in self.removed],
            "added": [brief(d) for d in self.added],
            "changed": [c.to_json() for c in self.changed],
            "restricted_remaining": [brief(d) for d in self.restricted_remaining],
        }


def brief(d: Dev) -> dict[str, Any]:
    rep = d.get("replacement")
    return {
        "ip": d.get("ip"),
        "mac": d.get("mac"),
        "manufacturer": d.get("manufacturer"),
        "brand": d.get("brand"),
        "model": d.get("model"),
        "firmware": d.get("firmware"),
        "serial": d.get("serial"),
        "device_type": d.get("device_type"),
        "restricted_by": list(d.get("restricted_by") or []),
        "priority": rep.get("priority") if isinstance(rep, dict) else None,
    }


def _norm(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().casefold()


def _conflict(a: Dev, b: Dev, key: str) -> bool:
    x, y = _norm(a.get(key)), _norm(b.get(key))
    return x is not None and y is not None and x != y


_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mac", ()),
    ("serial", ("mac",)),
    ("ip", ("mac", "serial", "manufacturer")),
)


def _pair(old: list[Dev], new: list[Dev]) -> list[tuple[Dev, Dev, str]]:
    """Pairs by the strongest key first. Where several devices share a key (one MAC behind
    a router, a cloned serial), the pairs that agree on more of the other fields go first,
    so the pairing never depends on the order of the lists."""
    pairs: list[tuple[Dev, Dev, str]] = []
    free_old = set(range(len(old)))
    free_new = set(range(len(new)))
    for key, must_agree in _KEYS:
        index: dict[str, list[int]] = {}
        for i in sorted(free_old):
            k = _norm(old[i].get(key))
            if k is not None:
                index.setdefault(k, []).append(i)
        candidates = []
        for j in sorted(free_new):
            k = _norm(new[j].get(key))
            if k is None:
                continue
            for i in index.get(k, []):
                if any(_conflict(old[i], new[j], m) for m in must_agree):
                    continue
                score = sum(
                    _norm(old[i].get(f)) is not None
                    and _norm(old[i].get(f)) == _norm(new[j].get(f))
                    for f in _TIEBREAK
                )
                candidates.append((-score, _order(old[i]), _order(new[j]), i, j))
        for *_, i, j in sorted(candidates):
            if i in free_old and j in free_new:
                pairs.append((old[i], new[j], key))
                free_old.discard(i)
                free_new.discard(j)
    return pairs


_TIEBREAK = ("ip", "serial", "mac", "manufacturer", "model", "hostname")


def _order(d: Dev) -> tuple[str, str]:
    return (str(d.get("ip") or ""), str(d.get("mac") or ""))


def _changes(a: Dev, b: Dev) -> dict[str, tuple[Any, Any]]:
    out = {k: (a.get(k), b.get(k)) for k in COMPARED if a.get(k) != b.get(k)}
    ra, rb = sorted(a.get("restricted_by") or []), sorted(b.get("restricted_by") or [])
    if ra != rb:
        out["restricted_by"] = (ra, rb)
    va = sorted(v.get("id") for v in a.get("vulnerabilities") or [])
    vb = sorted(v.get("id") for v in b.get("vulnerabilities") or [])
    if va != vb:
        out["vulnerabilities"] = (va, vb)
    pa = (a.get("replacement") or {}).get("priority")
    pb = (b.get("replacement") or {}).get("priority")
    if pa != pb:
        out["priority"] = (pa, pb)
    return out


def _sorted(devs: list[Dev], key: Callable[[Dev], Any] | None = None) -> list[Dev]:
    return sorted(devs, key=key or (lambda d: (str(d.get("ip") or ""), str(d.get("mac") or ""))))


def diff_device_lists(old: dict[str, Any], new: dict[str, Any]) -> DiffResult:
    """Diff two loaded (validated) device lists."""
    old_devs = list(old.get("devices") or [])
    new_devs = list(new.get("devices") or [])
    pairs = _pair(old_devs, new_devs)
    paired_old = {id(a) for a, _, _ in pairs}
    paired_new = {id(b) for _, b, _ in pairs}
    changed = []
    unchanged = 0
    for a, b, key in pairs:
        fields = _changes(a, b)
        if fields:
            changed.append(Change(a, b, key, fields))
        else:
            unchanged += 1
    changed.sort(key=lambda c: (str(c.new.get("ip") or ""), str(c.new.get("mac") or "")))
    return DiffResult(
        removed=_sorted([d for d in old_devs if id(d) not in paired_old]),
        added=_sorted([d for d in new_devs if id(d) not in paired_new]),
        changed=changed,
        unchanged=unchanged,
        restricted_remaining=_sorted([d for d in new_devs if d.get("restricted_by")]),
        old_policy=list((old.get("scan") or {}).get("policy") or []),
        new_policy=list((new.get("scan") or {}).get("policy") or []),
    )
