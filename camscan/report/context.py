"""What every report format shows, computed once from a device list: the selected regimes,
devices grouped by manufacturer, and the replacement plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from camscan.policy.plan import Plan, build_plan
from camscan.policy.regimes import Regime, load_regimes

# The columns every device table shows (terminal and Markdown), in order.
DEVICE_COLUMNS = (
    "IP",
    "MAC",
    "Maker (brand)",
    "Model",
    "Firmware",
    "Type",
    "Restricted by",
    "Known exploited",
    "Prio",
)

UNKNOWN = "unknown maker"


@dataclass(slots=True)
class Group:
    manufacturer: str  # UNKNOWN when no maker was named
    devices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def restricted(self) -> int:
        return sum(1 for d in self.devices if d.get("restricted_by"))

    @property
    def not_surveillance(self) -> int:
        """Listed because restricted or in the plan, though not a surveillance device."""
        return sum(1 for d in self.devices if not d.get("is_surveillance"))


@dataclass(slots=True)
class RegimeRef:
    id: str
    regime: Regime | None  # None: the list names a regime this camscan does not know


@dataclass(slots=True)
class ReportContext:
    doc: dict[str, Any]
    plan: Plan
    regimes: list[RegimeRef]
    groups: list[Group]  # surveillance devices and anything restricted or in the plan
    others: list[dict[str, Any]]  # everything else (printers, routers...)

    @property
    def scan(self) -> dict[str, Any]:
        return self.doc.get("scan") or {}

    @property
    def summary(self) -> dict[str, Any]:
        """The list's summary, its counts taken from the devices themselves (as the scan
        counts them), so that headers, tables and the JSON agree."""
        devices = list(self.doc.get("devices") or [])
        return {
            **(self.doc.get("summary") or {}),
            "total": len(devices),
            "surveillance": sum(1 for d in devices if d.get("is_surveillance")),
            "restricted": sum(1 for d in devices if d.get("restricted_by")),
        }

    @property
    def listed(self) -> int:
        """Devices in the tables by maker (surveillance, restricted or in the plan)."""
        return sum(len(g.devices) for g in self.groups)


def in_scope(d: dict[str, Any]) -> bool:
    return bool(d.get("is_surveillance") or d.get("restricted_by") or d.get("replacement"))


def maker(d: dict[str, Any]) -> str:
    """'Hikvision', 'Hikvision (LTS)' for a relabel, '? (Swann)' when only the brand is known."""
    man, brand = d.get("manufacturer"), d.get("brand")
    if man and brand and str(brand).casefold() != str(man).casefold():
        return f"{man} ({brand})"
    if man:
        return str(man)
    return f"? ({brand})" if brand else "?"


def cves(d: dict[str, Any]) -> str:
    out = []
    for v in d.get("vulnerabilities") or []:
        mark = "?" if v.get("status") == "possibly-affected" else ""
        out.append(f"{v.get('id')}{mark}")
    return ", ".join(out)


def notes(d: dict[str, Any]) -> list[Any]:
    """What was wrong with the device's answers (conflicts, lies, refused input)."""
    found = d.get("notes")
    return found if isinstance(found, list) else []


def priority(d: dict[str, Any]) -> int | None:
    rep = d.get("replacement")
    return rep.get("priority") if isinstance(rep, dict) else None


def group_devices(devices: list[dict[str, Any]]) -> list[Group]:
    groups: dict[str, Group] = {}
    for d in devices:
        key = str(d.get("manufacturer") or UNKNOWN)
        groups.setdefault(key, Group(key)).devices.append(d)
    for g in groups.values():
        g.devices.sort(key=lambda d: (priority(d) or 9, str(d.get("ip") or "")))
    # Groups with restricted devices first, then by size; unnamed devices last.
    return sorted(
        groups.values(),
        key=lambda g: (
            g.manufacturer == UNKNOWN,
            g.restricted == 0,
            -len(g.devices),
            g.manufacturer.casefold(),
        ),
    )


def build_context(
    doc: dict[str, Any],
    prices: dict[str, float] | None = None,
    regimes: dict[str, Regime] | None = None,
) -> ReportContext:
    known = regimes if regimes is not None else load_regimes()
    devices = list(doc.get("devices") or [])
    refs = [
        RegimeRef(str(rid), known.get(str(rid)))
        for rid in (doc.get("scan") or {}).get("policy") or []
    ]
    return ReportContext(
        doc=doc,
        plan=build_plan(devices, prices),
        regimes=refs,
        groups=group_devices([d for d in devices if in_scope(d)]),
        others=[d for d in devices if not in_scope(d)],
    )


def money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"
