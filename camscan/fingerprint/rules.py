"""Load, validate and compile fingerprint rules and the vendor table from YAML files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camscan.errors import FingerprintError
from camscan.model import CLAIM_FIELDS, DEVICE_TYPES
from camscan.protocols import PROTOCOLS

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it
SURVEILLANCE_TYPES = frozenset({"camera", "nvr", "dvr", "encoder", "doorbell"})
GROUP_FIELDS = frozenset({"model", "firmware", "serial", "brand"})
_RULE_KEYS = {
    "id",
    "protocol",
    "description",
    "source",
    "match",
    "extract",
    "claims",
    "confidence",
    "requires",
    "examples",
    "counterexamples",
}
_MATCH_KINDS = ("regex", "prefix", "exact", "oui")


def default_fingerprint_dir() -> Path:
    """`fingerprints/` beside the package in a checkout, inside it in a wheel."""
    pkg = Path(__file__).resolve().parent.parent
    for candidate in (pkg / "fingerprints", pkg.parent / "fingerprints"):
        if (candidate / "vendors.yaml").is_file():
            return candidate
    raise FingerprintError(f"fingerprint data not found beside {pkg}")


@dataclass(frozen=True, slots=True)
class Matcher:
    kind: str
    pattern: str
    ignore_case: bool = False
    regex: re.Pattern[str] | None = None
    ouis: tuple[str, ...] = ()

    def match(self, subject: str, mac_hex: str = "") -> dict[str, str] | None:
        """Named groups of a match ({} when there are none), or None."""
        if self.kind == "regex":
            assert self.regex is not None
            m = self.regex.search(subject)
            if m is None:
                return None
            return {k: v for k, v in m.groupdict().items() if v}
        if self.kind == "oui":
            return {} if mac_hex.startswith(self.ouis) else None
        s = subject.casefold() if self.ignore_case else subject
        p = self.pattern.casefold() if self.ignore_case else self.pattern
        if self.kind == "exact":
            return {} if s == p else None
        return {} if s.startswith(p) else None


@dataclass(frozen=True, slots=True)
class Requirement:
    protocol: str
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class Example:
    value: str
    expect: dict[str, Any]
    host: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    protocol: str
    file: str
    matcher: Matcher
    claims: dict[str, Any]
    confidence: float
    description: str = ""
    source: str = ""
    extract: tuple[tuple[str, re.Pattern[str]], ...] = ()
    requires: tuple[Requirement, ...] = ()
    examples: tuple[Example, ...] = ()
    counterexamples: tuple[str, ...] = ()

    @property
    def manufacturer(self) -> str | None:
        return self.claims.get("manufacturer")


@dataclass(frozen=True, slots=True)
class BrandInfo:
    brand: str
    manufacturer: str | None
    confidence: float
    relation: str
    source: str
    varies_by_model: bool = False
    note: str = ""


@dataclass(slots=True)
class Vendors:
    manufacturers: dict[str, dict[str, Any]] = field(default_factory=dict)
    brands: dict[str, BrandInfo] = field(default_factory=dict)

    _folded: dict[str, str] = field(default_factory=dict)

    def reindex(self) -> None:
        self._folded = {}
        for name in (*self.manufacturers, *self.brands):
            self._folded[name.casefold()] = name
        for name in self.brands:  # a brand entry's spelling wins over a maker's
            self._folded[name.casefold()] = name

    def canonical_brand(self, name: str) -> str | None:
        """The table's spelling of a brand or maker name, None when it is not there."""
        if not self._folded:
            self.reindex()
        return self._folded.get(name.casefold())


def _fail(path: Path, rule_id: str | None, msg: str) -> FingerprintError:
    where = f"{path.name}" + (f": rule {rule_id}" if rule_id else "")
    return FingerprintError(f"{where}: {msg}")


def _compile(path: Path, rid: str | None, pattern: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise _fail(path, rid, f"bad regex {pattern!r}: {exc}") from None


def _matcher(path: Path, rid: str | None, spec: Any) -> Matcher:
    if not isinstance(spec, dict):
        raise _fail(path, rid, "match must be a mapping with one of regex/prefix/exact/oui")
    kinds = [k for k in _MATCH_KINDS if k in spec]
    extra = set(spec) - set(_MATCH_KINDS) - {"ignore_case", "protocol"}
    if len(kinds) != 1 or extra:
        raise _fail(path, rid, f"match needs exactly one of {', '.join(_MATCH_KINDS)}")
    kind = kinds[0]
    ignore_case = bool(spec.get("ignore_case", False))
    if kind == "oui":
        ouis = spec["oui"]
        if not isinstance(ouis, list) or not ouis:
            raise _fail(path, rid, "oui must be a non-empty list of hex prefixes")
        norm = []
        for o in ouis:
            h = re.sub(r"[^0-9A-Fa-f]", "", str(o)).upper()
            if len(h) not in (6, 7, 9):
                raise _fail(path, rid, f"oui {o!r} must have 6, 7 or 9 hex digits")
            norm.append(h)
        return Matcher("oui", ",".join(norm), ouis=tuple(norm))
    pattern = spec[kind]
    if not isinstance(pattern, str) or not pattern:
        raise _fail(path, rid, f"{kind} must be a non-empty string")
    regex = None
    if kind == "regex":
        regex = _compile(path, rid, pattern, re.IGNORECASE if ignore_case else 0)
    return Matcher(kind, pattern, ignore_case, regex)


def _rule(path: Path, raw: Any, vendors: Vendors) -> Rule:
    if not isinstance(raw, dict):
        raise _fail(path, None, "each rule must be a mapping")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise _fail(path, None, "a rule has no id")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise _fail(path, rid, f"unknown keys {sorted(unknown)}")
    protocol = raw.get("protocol")
    if protocol not in PROTOCOLS:
        raise _fail(path, rid, f"unknown protocol {protocol!r}")
    matcher = _matcher(path, rid, raw.get("match"))
    if matcher.kind == "oui" and protocol != "mac":
        raise _fail(path, rid, "oui matchers are only for protocol mac")
    claims = raw.get("claims")
    if not isinstance(claims, dict) or not claims:
        raise _fail(path, rid, "claims must be a non-empty mapping")
    bad = set(claims) - set(CLAIM_FIELDS) - {"is_surveillance"}
    if bad:
        raise _fail(path, rid, f"unknown claim fields {sorted(bad)}")
    claims = dict(claims)
    dtype = claims.get("device_type")
    if dtype is not None and dtype not in DEVICE_TYPES:
        raise _fail(path, rid, f"device_type {dtype!r} not one of {', '.join(DEVICE_TYPES)}")
    if "is_surveillance" not in claims and dtype is not None:
        if dtype in SURVEILLANCE_TYPES:
            claims["is_surveillance"] = True
        elif dtype == "other":
            claims["is_surveillance"] = False
    if "is_surveillance" in claims and not isinstance(claims["is_surveillance"], bool | None):
        raise _fail(path, rid, "is_surveillance must be true, false or null")
    man = claims.get("manufacturer")
    if man is not None and man not in vendors.manufacturers:
        raise _fail(path, rid, f"manufacturer {man!r} is not in vendors.yaml")
    brand = claims.get("brand")
    if brand is not None and vendors.canonical_brand(brand) != brand:
        raise _fail(path, rid, f"brand {brand!r} is not in vendors.yaml")
    conf = raw.get("confidence")
    if not isinstance(conf, int | float) or not 0 < conf <= 1:
        raise _fail(path, rid, "confidence must be a number in (0, 1]")
    extract: list[tuple[str, re.Pattern[str]]] = []
    for fname, pat in (raw.get("extract") or {}).items():
        if fname not in GROUP_FIELDS or not isinstance(pat, str):
            raise _fail(path, rid, f"extract {fname!r}: fields are {sorted(GROUP_FIELDS)}")
        extract.append((fname, _compile(path, rid, pat)))
    requires = []
    for req in raw.get("requires") or []:
        if not isinstance(req, dict) or req.get("protocol") not in PROTOCOLS:
            raise _fail(path, rid, "requires entries need a known protocol and a matcher")
        requires.append(Requirement(req["protocol"], _matcher(path, rid, req)))
    examples = []
    for ex in raw.get("examples") or []:
        if not isinstance(ex, dict) or not isinstance(ex.get("value"), str):
            raise _fail(path, rid, "each example needs a string value")
        expect = ex.get("expect")
        if not isinstance(expect, dict):
            raise _fail(path, rid, "each example needs an expect mapping")
        host = tuple((str(h["protocol"]), str(h["value"])) for h in ex.get("host") or [])
        examples.append(Example(ex["value"], dict(expect), host))
    if not examples:
        raise _fail(path, rid, "a rule needs at least one example")
    counter = raw.get("counterexamples") or []
    if not all(isinstance(c, str) for c in counter):
        raise _fail(path, rid, "counterexamples must be strings")
    return Rule(
        id=rid,
        protocol=protocol,
        file=path.name,
        matcher=matcher,
        claims=claims,
        confidence=float(conf),
        description=str(raw.get("description") or ""),
        source=str(raw.get("source") or ""),
        extract=tuple(extract),
        requires=tuple(requires),
        examples=tuple(examples),
        counterexamples=tuple(counter),
    )


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    except OSError as exc:
        raise _fail(path, None, f"cannot read: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise _fail(path, None, f"not valid YAML{where}: {first[0] if first else exc}") from None


def load_vendors(path: Path, vendors: Vendors | None = None) -> Vendors:
    """Read a vendor table; with `vendors`, add its makers and brands to that table (a
    user's fingerprint folder may carry its own vendors.yaml)."""
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("manufacturers", []), list):
        raise _fail(path, None, "needs a 'manufacturers' list")
    if vendors is None and not data.get("manufacturers"):
        raise _fail(path, None, "needs a 'manufacturers' list")
    vendors = vendors if vendors is not None else Vendors()
    for m in data.get("manufacturers") or []:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise _fail(path, None, "each manufacturer needs a name")
        vendors.manufacturers.setdefault(m["name"], m)
    for b in data.get("brands") or []:
        if not isinstance(b, dict) or not isinstance(b.get("brand"), str):
            raise _fail(path, None, "each brand entry needs a brand name")
        man = b.get("manufacturer")
        if man is not None and man not in vendors.manufacturers:
            raise _fail(path, None, f"brand {b['brand']}: unknown manufacturer {man!r}")
        conf = b.get("confidence", 0.5)
        if not isinstance(conf, int | float) or not 0 <= conf <= 1:
            raise _fail(path, None, f"brand {b['brand']}: confidence must be in [0, 1]")
        if b["brand"] in vendors.brands:
            continue
        vendors.brands[b["brand"]] = BrandInfo(
            brand=b["brand"],
            manufacturer=man,
            confidence=float(conf),
            relation=str(b.get("relation") or ""),
            source=str(b.get("source") or ""),
            varies_by_model=bool(b.get("varies_by_model", False)),
            note=str(b.get("note") or ""),
        )
    vendors.reindex()
    return vendors


def vendor_files(dirs: Iterable[Path]) -> list[Path]:
    """vendors.yaml, then vendors-*.yaml, of each fingerprint folder, in order."""
    files: list[Path] = []
    for d in dirs:
        if d.is_dir():
            files.extend(p for p in (d / "vendors.yaml",) if p.is_file())
            files.extend(sorted(d.glob("vendors-*.yaml")))
    return files


def load_vendor_files(files: Iterable[Path]) -> Vendors:
    vendors: Vendors | None = None
    for path in files:
        vendors = load_vendors(path, vendors)
    if vendors is None:
        raise FingerprintError("no vendors.yaml found")
    return vendors


def _is_vendor_file(path: Path) -> bool:
    return path.name == "vendors.yaml" or path.name.startswith("vendors-")


def rule_files(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        if d.is_file():
            files.append(d)
            continue
        if not d.is_dir():
            raise FingerprintError(f"{d}: no such fingerprint directory")
        files.extend(p for p in sorted(d.glob("*.yaml")) if not _is_vendor_file(p))
    return files


def load_rules(files: Iterable[Path], vendors: Vendors) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in files:
        data = _read_yaml(path)
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise _fail(path, None, "needs a top-level 'rules' list")
        for raw in data["rules"]:
            rule = _rule(path, raw, vendors)
            if rule.id in seen:
                raise _fail(path, rule.id, f"duplicate rule id (also in {seen[rule.id]})")
            seen[rule.id] = path.name
            rules.append(rule)
    return rules
