"""Regimes + known exploited firmware -> each device's restricted_by, vulnerabilities and
replacement priority. One per-device function serves both a fresh scan (Device objects) and a
saved device list re-evaluated with another `--policy`.

Replacement priorities (lower = sooner):
  1  restricted by a selected regime AND known exploited firmware (affected or possibly)
  2  restricted by a selected regime
  3  verify: the maker of the brand varies by model, or a surveillance device nobody could name
  4  review: on a watch list; a maker a jurisdiction-worded regime may reach; or known exploited
     firmware on a device no selected regime restricts (patch it)
  5  keep: a surveillance device no selected regime covers
Devices that are neither surveillance devices nor covered by anything get no replacement
entry (`replacement: null`): printers and routers are not part of the plan.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from camscan.fingerprint.rules import (
    Vendors,
    default_fingerprint_dir,
    load_vendor_files,
    vendor_files,
)
from camscan.model import Device, Replacement, ScanInfo, ScanResult
from camscan.policy.jsondoc import device_from_json
from camscan.policy.regimes import Regime, load_regimes, select_regimes
from camscan.policy.vulns import FIRMWARE_UNKNOWN, VulnRule, is_relabel, load_vulns, match_vulns

NOT_REACHED = "not covered by "
JURISDICTION = "jurisdiction check: "
# Notes this module writes start with one of these, so re-evaluation can replace them.
POLICY_NOTE_PREFIXES = (FIRMWARE_UNKNOWN, NOT_REACHED, JURISDICTION)


@dataclass(frozen=True, slots=True)
class Coverage:
    restricted: tuple[str, ...]
    watch: tuple[Regime, ...]
    jurisdiction: tuple[Regime, ...]  # worded by producer country; maker not listed
    not_reached: tuple[Regime, ...]  # maker covered, but the regime does not reach relabels


def coverage(device: Device, regimes: list[Regime], vendors: Vendors) -> Coverage:
    restricted: list[str] = []
    watch: list[Regime] = []
    by_country: list[Regime] = []
    not_reached: list[Regime] = []
    man = device.manufacturer
    if man is None:
        return Coverage((), (), (), ())
    relabel = is_relabel(device.brand, man)
    country = (vendors.manufacturers.get(man) or {}).get("country")
    for regime in regimes:
        if regime.surveillance_only and not device.is_surveillance:
            continue
        if man not in regime.manufacturers:
            if regime.producer_country and country == regime.producer_country:
                by_country.append(regime)
            continue
        if relabel and not regime.relabels:
            not_reached.append(regime)
        elif regime.is_watch:
            watch.append(regime)
        else:
            restricted.append(regime.id)
    return Coverage(tuple(restricted), tuple(watch), tuple(by_country), tuple(not_reached))


def uncertain_brand(device: Device, vendors: Vendors) -> str | None:
    """The brand's name when its maker cannot be told from the brand and nothing else named it."""
    if device.manufacturer is not None or not device.brand:
        return None
    canonical = vendors.canonical_brand(device.brand) or device.brand
    info = vendors.brands.get(canonical)
    if info is not None and (info.varies_by_model or info.manufacturer is None):
        return canonical
    return None


def assess_device(
    device: Device, regimes: list[Regime], vendors: Vendors, vulns: list[VulnRule]
) -> None:
    """Set restricted_by, vulnerabilities, replacement and the policy notes of one device."""
    device.notes = [n for n in device.notes if not n.startswith(POLICY_NOTE_PREFIXES)]
    cov = coverage(device, regimes, vendors)
    found, notes = match_vulns(device, vulns)
    device.restricted_by = list(cov.restricted)
    device.vulnerabilities = found
    man = device.manufacturer
    label = f" (sold as {device.brand})" if man and is_relabel(device.brand, man) else ""
    for regime in cov.not_reached:
        notes.append(
            f"{NOT_REACHED}{regime.id}: made by {man}{label}, and it does not reach relabels"
        )
    for regime in cov.jurisdiction:
        notes.append(
            f"{JURISDICTION}{regime.id} is worded by producer country ({regime.producer_country}); "
            f"{man} is listed as {regime.producer_country} in vendors.yaml"
        )
    device.notes.extend(n for n in notes if n not in device.notes)

    reasons: list[tuple[int, str]] = []
    kev = ", ".join(f"{v.id} ({v.status})" for v in found)
    if cov.restricted:
        level = 1 if found else 2
        reasons.append((level, f"made by {man}{label}: restricted by {', '.join(cov.restricted)}"))
        if found:
            reasons.append((1, f"known exploited firmware: {kev}"))
    elif found:
        patch = "no selected regime restricts it: update the firmware"
        reasons.append((4, f"known exploited firmware: {kev}; {patch}"))
    brand = uncertain_brand(device, vendors)
    if brand is not None:
        reasons.append((3, f"maker of brand {brand} varies by model — verify"))
    elif man is None and device.is_surveillance:
        reasons.append((3, "unidentified surveillance device — verify maker"))
    for regime in cov.watch:
        reasons.append((4, f"{man} is on a watch list ({regime.id}): review"))
    for regime in cov.jurisdiction:
        country = regime.producer_country
        reasons.append((4, f"{regime.id} covers producers from {country}: check it reaches {man}"))
    for regime in cov.not_reached:
        reasons.append((4, f"{regime.id} names {man} but not its relabels: check"))
    if not reasons and device.is_surveillance:
        reasons.append((5, f"no selected regime covers {man}: keep"))
    if not reasons:
        device.replacement = None
        return
    priority = min(p for p, _ in reasons)
    reasons.sort(key=lambda pr: pr[0])
    device.replacement = Replacement(priority, [r for _, r in reasons])


def apply_policy(
    devices: list[Device],
    regimes: list[Regime],
    vendors: Vendors,
    vulns: list[VulnRule] | None = None,
) -> None:
    """Evaluate every device in place. `vulns` None = the bundled known-exploited list."""
    rules = load_vulns() if vulns is None else vulns
    for device in devices:
        assess_device(device, regimes, vendors, rules)


def default_vendors() -> Vendors:
    return load_vendor_files(vendor_files([default_fingerprint_dir()]))


def apply_policy_to_doc(
    doc: dict[str, Any],
    regime_ids: str | None,
    *,
    regimes: dict[str, Regime] | None = None,
    vendors: Vendors | None = None,
    vulns: list[VulnRule] | None = None,
) -> dict[str, Any]:
    """A copy of a loaded device list re-evaluated under `regime_ids` (None = all): scan.policy,
    each device's restricted_by, vulnerabilities, replacement and policy notes, and the summary.
    Everything else is kept as it was."""
    selected = select_regimes(regime_ids, regimes if regimes is not None else load_regimes())
    vend = vendors if vendors is not None else default_vendors()
    rules = load_vulns() if vulns is None else vulns
    out = copy.deepcopy(doc)
    out["scan"]["policy"] = [r.id for r in selected]
    devices = []
    for entry in out["devices"]:
        device = device_from_json(entry)
        assess_device(device, selected, vend, rules)
        entry["restricted_by"] = list(device.restricted_by)
        entry["vulnerabilities"] = [v.to_json() for v in device.vulnerabilities]
        entry["replacement"] = device.replacement.to_json() if device.replacement else None
        entry["notes"] = list(device.notes)
        devices.append(device)
    out["summary"] = ScanResult(ScanInfo("active", [], [], []), devices).summary()
    return out
