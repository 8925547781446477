"""Known exploited firmware as data (camscan/data/vulnerabilities.yaml) and the matcher that
compares a device's reported firmware with the published ranges. Nothing is ever sent to a
device: this reads the version string the scan already has."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from camscan.errors import ParseError
from camscan.model import DEVICE_TYPES, Device, Vulnerability
from camscan.policy.datafile import fail, read_yaml, text_date
from camscan.policy.versions import FORMATS, Firmware, in_range, parse_date, parse_firmware

# Model strings may carry the vendor's own prefix (Dahua: DH-IPC-..., DHI-NVR...).
_MODEL_PREFIX = r"(?:DHI?-)?"
FIRMWARE_UNKNOWN = "firmware unknown: "
_KEYS = {
    "id",
    "title",
    "manufacturer",
    "firmware_format",
    "kev_added",
    "kev_note",
    "device_types",
    "sources",
    "note",
    "families",
}


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    model: re.Pattern[str]
    device_type: str | None = None
    first: Firmware | None = None  # inclusive (version, build) range...
    last: Firmware | None = None
    build_before: dt.date | None = None  # ...or builds strictly before this date
    certain_through: dt.date | None = None  # at or before: affected on every platform

    def describe(self) -> str:
        if self.first is not None and self.last is not None:
            return f"{self.first} - {self.last}"
        assert self.build_before is not None
        return f"builds before {self.build_before.isoformat()}"

    def verdict(self, fw: Firmware) -> tuple[str | None, str]:
        """(status or None, reason). Status 'unknown' when the firmware lacks what is needed."""
        if self.first is not None and self.last is not None:
            hit = in_range(fw, self.first, self.last)
            if hit is None:
                return "possibly-affected", (
                    f"firmware {fw} has no build number and sits on the edge of "
                    f"{self.name} range {self.describe()}"
                )
            if hit:
                return "affected", f"{self.name} firmware {fw} is within {self.describe()}"
            return None, ""
        assert self.build_before is not None
        if fw.build is None:
            return "unknown", ""
        if fw.build >= self.build_before:
            return None, ""
        build = _show_build(fw)
        if self.certain_through is not None and fw.build > self.certain_through:
            return "possibly-affected", (
                f"heuristic: {self.name} build {build} is before the first fixed builds "
                f"({_show_date(fw.vendor, self.build_before)}) but after "
                f"{_show_date(fw.vendor, self.certain_through)}; fixes are per platform, "
                "confirm against the vendor advisory"
            )
        return "affected", (
            f"{self.name} build {build} is before {_show_date(fw.vendor, self.build_before)}"
        )


@dataclass(frozen=True, slots=True)
class VulnRule:
    id: str
    title: str
    manufacturer: str
    firmware_format: str
    families: tuple[Family, ...]
    device_types: tuple[str, ...]
    sources: tuple[str, ...]
    kev_added: str | None = None
    kev_note: str = ""
    note: str = ""

    def family_for(self, model: str | None) -> Family | None:
        if not model:
            return None
        text = model.strip()[:128]
        return next((f for f in self.families if f.model.match(text)), None)


def _show_build(fw: Firmware) -> str:
    assert fw.build is not None
    return _show_date(fw.vendor, fw.build)


def _show_date(vendor: str, d: dt.date) -> str:
    return f"{d:%y%m%d}" if vendor == "hikvision" else d.isoformat()


def default_vulns_path() -> Path:
    return Path(str(files("camscan").joinpath("data/vulnerabilities.yaml")))


def load_vulns(path: str | Path | None = None) -> list[VulnRule]:
    source = Path(path) if path is not None else default_vulns_path()
    data = read_yaml(source)
    if not isinstance(data, dict) or not isinstance(data.get("vulnerabilities"), list):
        raise fail(source, None, "needs a top-level 'vulnerabilities' list")
    rules: list[VulnRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["vulnerabilities"], 1):
        rule = _rule(source, i, raw)
        if rule.id in seen:
            raise fail(source, rule.id, "duplicate id")
        seen.add(rule.id)
        rules.append(rule)
    return rules


def _rule(source: Path, index: int, raw: Any) -> VulnRule:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise fail(source, f"entry {index}", "each vulnerability needs an id")
    vid = raw["id"]
    unknown = set(raw) - _KEYS
    if unknown:
        raise fail(source, vid, f"unknown keys {sorted(unknown)}")
    fmt = raw.get("firmware_format")
    if fmt not in FORMATS:
        raise fail(source, vid, f"firmware_format must be one of {', '.join(FORMATS)}")
    for key in ("title", "manufacturer"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise fail(source, vid, f"{key} must be a non-empty string")
    types = raw.get("device_types")
    if not isinstance(types, list) or not types or any(t not in DEVICE_TYPES for t in types):
        raise fail(source, vid, f"device_types must list some of {', '.join(DEVICE_TYPES)}")
    sources = raw.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise fail(source, vid, "sources must be a non-empty list of URLs")
    fams = raw.get("families")
    if not isinstance(fams, list) or not fams:
        raise fail(source, vid, "families must be a non-empty list")
    kev = text_date(raw.get("kev_added"))
    if kev is not None and not (isinstance(kev, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", kev)):
        raise fail(source, vid, "kev_added must be YYYY-MM-DD")
    return VulnRule(
        id=vid,
        title=raw["title"].strip(),
        manufacturer=raw["manufacturer"].strip(),
        firmware_format=fmt,
        families=tuple(_family(source, vid, fmt, f) for f in fams),
        device_types=tuple(types),
        sources=tuple(sources),
        kev_added=kev,
        kev_note=str(raw.get("kev_note") or ""),
        note=" ".join(str(raw.get("note") or "").split()),
    )


def _family(source: Path, vid: str, fmt: str, raw: Any) -> Family:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise fail(source, vid, "each family needs a name")
    where = f"{vid} family {raw['name']}"
    pattern = raw.get("model")
    if not isinstance(pattern, str) or not pattern:
        raise fail(source, where, "model must be a regex")
    try:
        model = re.compile(_MODEL_PREFIX + pattern, re.IGNORECASE)
    except re.error as exc:
        raise fail(source, where, f"bad model regex: {exc}") from None
    dtype = raw.get("device_type")
    if dtype is not None and dtype not in DEVICE_TYPES:
        raise fail(source, where, f"device_type {dtype!r} is not a device type")
    aff = raw.get("affected")
    if not isinstance(aff, dict):
        raise fail(source, where, "affected must be {from, through} or {build_before}")
    try:
        if "from" in aff and "through" in aff and set(aff) == {"from", "through"}:
            first = parse_firmware(fmt, str(aff["from"]))
            last = parse_firmware(fmt, str(aff["through"]))
            if first.build is None or last.build is None or first.version > last.version:
                raise ParseError("range needs versions with builds, from <= through")
            return Family(raw["name"], model, dtype, first=first, last=last)
        if "build_before" in aff and set(aff) <= {"build_before", "certain_through"}:
            before = parse_date(fmt, str(text_date(aff["build_before"])))
            certain = aff.get("certain_through")
            sure = parse_date(fmt, str(text_date(certain))) if certain is not None else None
            return Family(raw["name"], model, dtype, build_before=before, certain_through=sure)
    except ParseError as exc:
        raise fail(source, where, str(exc)) from None
    raise fail(source, where, "affected must be {from, through} or {build_before}")


def is_relabel(brand: str | None, manufacturer: str) -> bool:
    return bool(brand) and brand.strip().casefold() != manufacturer.casefold()  # type: ignore[union-attr]


def check_device(rule: VulnRule, device: Device) -> tuple[Vulnerability | None, str | None]:
    """(vulnerability or None, note or None) for one rule and one device."""
    if device.manufacturer != rule.manufacturer:
        return None, None
    relabel = is_relabel(device.brand, rule.manufacturer)
    family = rule.family_for(device.model)
    if family is not None:
        candidates: tuple[Family, ...] = (family,)
    elif relabel or not device.model:
        # A relabel's model names are not the OEM's, and an unknown model names nothing: try
        # every family of this kind of device, and never claim more than "possibly".
        dtype = device.device_type
        if dtype != "unknown" and dtype not in rule.device_types:
            return None, None
        candidates = tuple(
            f for f in rule.families if dtype == "unknown" or f.device_type in (None, dtype)
        )
        if not candidates:
            return None, None
    else:
        return None, None
    try:
        fw = parse_firmware(rule.firmware_format, device.firmware or "")
    except ParseError:
        shown = f" (firmware {device.firmware[:60]!r} not understood)" if device.firmware else ""
        return None, f"{FIRMWARE_UNKNOWN}cannot check {rule.id}{shown}"
    found: list[tuple[str, str]] = []
    unknown = False
    for fam in candidates:
        status, reason = fam.verdict(fw)
        if status == "unknown":
            unknown = True
        elif status is not None:
            found.append((status, reason))
    if not found:
        if unknown:
            return None, f"{FIRMWARE_UNKNOWN}no build date in {str(fw)!r}: cannot check {rule.id}"
        return None, None
    found.sort(key=lambda sr: sr[0] != "affected")
    status, reason = found[0]
    if family is None or relabel:
        status = "possibly-affected"
        if relabel:
            reason = (
                f"relabel firmware has no published range; verify: {device.brand}-brand device "
                f"made by {rule.manufacturer}; {reason}"
            )
        else:
            reason = f"model unknown; verify: {reason}"
    kev = f" (CISA KEV {rule.kev_added})" if rule.kev_added else ""
    return Vulnerability(rule.id, f"{reason}{kev}", status), None


def match_vulns(device: Device, rules: list[VulnRule]) -> tuple[list[Vulnerability], list[str]]:
    vulns: list[Vulnerability] = []
    notes: list[str] = []
    for rule in rules:
        vuln, note = check_device(rule, device)
        if vuln is not None:
            vulns.append(vuln)
        if note is not None:
            notes.append(note)
    return vulns, notes
