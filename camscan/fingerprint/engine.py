"""The fingerprint engine: compiled rules, indexed by protocol, turn evidence into claims."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import netaddr

from camscan.fingerprint.rules import (
    Rule,
    Vendors,
    default_fingerprint_dir,
    load_rules,
    load_vendors,
    rule_files,
)
from camscan.model import Claim, Evidence

_HEX = re.compile(r"[^0-9A-Fa-f]")
_GLUED_BUILD = re.compile(r"(?<=[0-9A-Za-z])build\s*(?=\d)", re.IGNORECASE)


def normalise_field(name: str, text: str) -> str:
    """Decode percent-escapes in names; collapse white space; write Hikvision's 'V5.5.800build 210628' (as SADP sends it) the
    way its web UI and ONVIF do: 'V5.5.800 build 210628'."""
    if "%" in text and name in ("model", "brand", "serial"):
        text = unquote(text)  # WS-Discovery scopes are URIs: 'M3106-L%20Mk%20II'
    text = " ".join(text.split())
    if name == "firmware":
        text = _GLUED_BUILD.sub(" build ", text)
    return text


def mac_hex(mac: str) -> str:
    """'28:57:be:00:00:01' -> '2857BE000001' ('' when it is not a MAC)."""
    h = _HEX.sub("", mac).upper()
    return h if len(h) == 12 else ""


@lru_cache(maxsize=4096)
def mac_registrant(mac: str) -> str:
    """The IEEE registrant organisation of a MAC (MA-L or IAB), '' when unregistered."""
    h = mac_hex(mac)
    if not h or int(h[1], 16) & 2:  # locally administered: no registrant
        return ""
    try:
        eui = netaddr.EUI(h)
        if eui.is_iab():
            return str(eui.iab.registration().org)
        return str(eui.oui.registration().org)
    except (netaddr.NotRegisteredError, netaddr.AddrFormatError, IndexError, ValueError):
        return ""


class Engine:
    """Rules compiled once, indexed by protocol: matching one evidence item only looks at
    the rules of its own protocol."""

    def __init__(self, rules: Sequence[Rule], vendors: Vendors) -> None:
        self.rules = list(rules)
        self.vendors = vendors
        self._by_protocol: dict[str, list[Rule]] = defaultdict(list)
        self._exact: dict[str, dict[str, list[Rule]]] = defaultdict(lambda: defaultdict(list))
        for rule in self.rules:
            m = rule.matcher
            if m.kind == "exact" and not m.ignore_case:
                self._exact[rule.protocol][m.pattern].append(rule)
            else:
                self._by_protocol[rule.protocol].append(rule)

    @classmethod
    def load(cls, extra_dirs: Iterable[Path] = ()) -> Engine:
        base = default_fingerprint_dir()
        vendors = load_vendors(base / "vendors.yaml")
        rules = load_rules(rule_files([base, *extra_dirs]), vendors)
        return cls(rules, vendors)

    def rules_for(self, protocol: str) -> list[Rule]:
        exact = [r for rules in self._exact.get(protocol, {}).values() for r in rules]
        return exact + self._by_protocol.get(protocol, [])

    def match_value(
        self,
        protocol: str,
        value: str,
        host: Sequence[tuple[str, str]] | None = None,
        evidence: Evidence | None = None,
    ) -> list[Claim]:
        """Every claim the rules of `protocol` make about `value`. Rules with `requires`
        only fire when `host` (the other (protocol, value) pairs of the host) satisfies them."""
        mac = ""
        subject = value
        if protocol == "mac":
            mac = mac_hex(value)
            subject = mac_registrant(value)
        claims: list[Claim] = []
        candidates = self._by_protocol.get(protocol, ())
        exact = self._exact.get(protocol)
        if exact:
            hit = exact.get(subject)
            if hit:
                candidates = [*hit, *candidates]
        for rule in candidates:
            groups = rule.matcher.match(subject, mac)
            if groups is None:
                continue
            if rule.requires and not _satisfied(rule, host):
                continue
            claims.append(_claim(rule, groups, subject, evidence))
        return claims

    def match(
        self, evidence: Evidence, host: Sequence[tuple[str, str]] | None = None
    ) -> list[Claim]:
        return self.match_value(evidence.protocol, evidence.value, host, evidence)


def _satisfied(rule: Rule, host: Sequence[tuple[str, str]] | None) -> bool:
    if not host:
        return False
    for req in rule.requires:
        for protocol, value in host:
            if protocol != req.protocol:
                continue
            subject = mac_registrant(value) if protocol == "mac" else value
            if req.matcher.match(subject, mac_hex(value)) is not None:
                return True
    return False


def _claim(rule: Rule, groups: dict[str, str], subject: str, ev: Evidence | None) -> Claim:
    fields = dict(rule.claims)
    for name, pattern in rule.extract:
        m = pattern.search(subject)
        if m:
            got = m.groupdict().get(name) or (m.group(1) if m.groups() else None)
            if got:
                groups.setdefault(name, got)
    for name, got in groups.items():
        if name in ("model", "firmware", "serial", "brand"):
            text = normalise_field(name, got)
            if text:
                fields[name] = text
    return Claim(
        rule=rule.id,
        confidence=rule.confidence,
        manufacturer=fields.get("manufacturer"),
        brand=fields.get("brand"),
        model=fields.get("model"),
        firmware=fields.get("firmware"),
        serial=fields.get("serial"),
        device_type=fields.get("device_type"),
        is_surveillance=fields.get("is_surveillance"),
        evidence=ev,
    )


def best_claim(claims: Sequence[Claim]) -> Claim | None:
    """The single strongest claim: highest confidence, then the most fields."""
    if not claims:
        return None
    return max(claims, key=lambda c: (c.confidence, c.manufacturer is not None, len(c.fields())))
