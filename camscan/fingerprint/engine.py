"""The fingerprint engine: compiled rules, indexed by protocol, turn evidence into claims."""

from __future__ import annotations

import re
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import netaddr

try:  # the regex parser behind `re` (3.11+: re._parser); used only to find literal hints
    import re._parser as _sre_parser
    from re._constants import LITERAL as _LITERAL
except ImportError:  # pragma: no cover - older layout
    import sre_constants as _sre_constants
    import sre_parse as _sre_parser

    _LITERAL = _sre_constants.LITERAL

from camscan.fingerprint.lexicon import Lexicon, lexicon_files, load_lexicon
from camscan.fingerprint.rules import (
    Rule,
    Vendors,
    default_fingerprint_dir,
    load_rules,
    load_vendor_files,
    rule_files,
    vendor_files,
)
from camscan.model import Claim, Evidence

_HEX = re.compile(r"[^0-9A-Fa-f]")
# A MAC written with separators, not touching other hex digits (a bare 12-hex run could be
# anything: a serial, a hash).
_STATED_MAC = re.compile(
    r"(?<![0-9A-Fa-f:-])([0-9A-Fa-f]{2}(?:([:-])[0-9A-Fa-f]{2})(?:\2[0-9A-Fa-f]{2}){4})(?![0-9A-Fa-f:-])"
)
_STATES_MAC = frozenset({"wsd_scopes", "mdns_service", "mdns_txt", "dhcp_hostname", "upnp_device"})
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


def literal_hint(pattern: re.Pattern[str]) -> tuple[str, bool] | None:
    """The longest run of literal characters every match must contain (at the top level of
    the pattern, so never inside an alternative or an optional group), and whether it is to
    be compared case-insensitively. None when there is no run of 3 or more."""
    try:
        parsed = _sre_parser.parse(pattern.pattern, pattern.flags)
    except (re.error, RecursionError, OverflowError):
        return None
    fold = bool(parsed.state.flags & re.IGNORECASE)
    best, run = "", []
    for op, arg in parsed:
        if op is _LITERAL:
            run.append(chr(arg))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    if len(run) > len(best):
        best = "".join(run)
    if len(best) < 3 or (fold and not best.isascii()):
        return None
    return (best.lower() if fold else best), fold


@dataclass(frozen=True, slots=True)
class _Candidate:
    rule: Rule
    hint: str | None = None
    fold: bool = False


_MEMO_SIZE = 16384


class Engine:
    """Rules compiled once, indexed by protocol: matching one evidence item only looks at
    the rules of its own protocol. A regex runs only when its required literal text is in
    the value, and what a (protocol, value) matched is remembered (a scan sees the same
    banners again and again)."""

    def __init__(
        self,
        rules: Sequence[Rule],
        vendors: Vendors,
        *,
        memo: bool = True,
        lexicon: Lexicon | None = None,
    ) -> None:
        self.rules = list(rules)
        self.lexicon = lexicon
        self._memo_size = _MEMO_SIZE if memo else 0
        self.vendors = vendors
        self._by_protocol: dict[str, list[_Candidate]] = defaultdict(list)
        self._exact: dict[str, dict[str, list[Rule]]] = defaultdict(lambda: defaultdict(list))
        self._memo: OrderedDict[tuple[str, str, str], tuple[tuple[Rule, dict[str, str]], ...]]
        self._memo = OrderedDict()
        self._lex_memo: OrderedDict[tuple[str, str, str], tuple[Claim, ...]] = OrderedDict()
        for rule in self.rules:
            m = rule.matcher
            if m.kind == "exact" and not m.ignore_case:
                self._exact[rule.protocol][m.pattern].append(rule)
                continue
            hint = literal_hint(m.regex) if m.regex is not None else None
            cand = _Candidate(rule, *hint) if hint else _Candidate(rule)
            self._by_protocol[rule.protocol].append(cand)

    @classmethod
    def load(cls, extra_dirs: Iterable[Path] = ()) -> Engine:
        dirs = [default_fingerprint_dir(), *extra_dirs]
        vendors = load_vendor_files(vendor_files(dirs))
        rules = load_rules(rule_files(dirs), vendors)
        lexicon = load_lexicon(lexicon_files(dirs), vendors)
        return cls(rules, vendors, lexicon=lexicon)

    def rules_for(self, protocol: str) -> list[Rule]:
        exact = [r for rules in self._exact.get(protocol, {}).values() for r in rules]
        return exact + [c.rule for c in self._by_protocol.get(protocol, [])]

    def _matches(
        self, protocol: str, subject: str, mac: str
    ) -> tuple[tuple[Rule, dict[str, str]], ...]:
        """(rule, named groups) of every rule of `protocol` whose matcher accepts subject."""
        key = (protocol, subject, mac[:9])
        hit = self._memo.get(key)
        if hit is not None:
            self._memo.move_to_end(key)
            return hit
        found: list[tuple[Rule, dict[str, str]]] = []
        exact = self._exact.get(protocol)
        if exact:
            found.extend((rule, {}) for rule in exact.get(subject, ()))
        lowered: str | None = None
        for cand in self._by_protocol.get(protocol, ()):
            if cand.hint is not None:
                if cand.fold:
                    if subject.isascii():
                        if lowered is None:
                            lowered = subject.lower()
                        if cand.hint not in lowered:
                            continue
                elif cand.hint not in subject:
                    continue
            groups = cand.rule.matcher.match(subject, mac)
            if groups is not None:
                found.append((cand.rule, groups))
        result = tuple(found)
        if self._memo_size and len(subject) <= 4096:
            self._memo[key] = result
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return result

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
        for rule, groups in self._matches(protocol, subject, mac):
            if rule.requires and not _satisfied(rule, host):
                continue
            claims.append(self._canonical(_claim(rule, dict(groups), subject, evidence)))
        if self.lexicon is not None and subject:
            claims.extend(self._lexicon_claims(protocol, subject, evidence))
        if protocol in _STATES_MAC and _STATED_MAC.search(value):
            claims.extend(self._stated_mac_claims(value, host, evidence))
        return claims

    def _stated_mac_claims(
        self, scopes: str, host: Sequence[tuple[str, str]] | None, ev: Evidence | None
    ) -> list[Claim]:
        """A MAC a device states about itself (an ONVIF scope onvif://www.onvif.org/MAC/<mac>,
        a TXT mac=, a host name or mDNS instance with its MAC): its IEEE registrant counts as
        the registrant of a MAC seen on the wire does (a weak claim). It never binds an
        address to that MAC (grouping uses the link layer only)."""
        out: list[Claim] = []
        seen: set[str] = set()
        for found in _STATED_MAC.finditer(scopes):
            mac = mac_hex(found.group(1))
            if mac and mac not in seen:
                seen.add(mac)
                for claim in self.match_value("mac", mac, host, ev):
                    out.append(replace(claim, rule=f"{claim.rule}+stated"))
        return out

    def _lexicon_claims(self, protocol: str, value: str, ev: Evidence | None) -> list[Claim]:
        assert self.lexicon is not None
        key = ("\0lexicon", protocol, value)
        hit = self._lex_memo.get(key)
        if hit is None:
            hit = tuple(self.lexicon.claims(protocol, value))
            if self._memo_size and len(value) <= 4096:
                self._lex_memo[key] = hit
                if len(self._lex_memo) > self._memo_size:
                    self._lex_memo.popitem(last=False)
        if ev is None:
            return list(hit)
        return [replace(c, evidence=ev) for c in hit]

    def _canonical(self, claim: Claim) -> Claim:
        """A brand read from a device (an OEM field) in the vendor table's spelling; an
        unknown one is kept as the device wrote it."""
        if claim.brand is None:
            return claim
        canon = self.vendors.canonical_brand(claim.brand)
        if canon is None or canon == claim.brand:
            return claim
        return replace(claim, brand=canon)

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
