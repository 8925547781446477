"""Lexicons that apply across every evidence field that can carry a name: maker and brand
names, model-number families, camera words and vendor clouds (fingerprints/lexicon/*.yaml).

Rules read one protocol and one string each; a lexicon entry is written once and is looked
for in every field `fields.yaml` names (a DHCP host name, an mDNS TXT value, an ONVIF
Manufacturer, an FTP greeting...). Matching is word-bounded; CamelCase words glued together
are also read split ('IC-3115WNetworkCamera' -> 'IC-3115W Network Camera').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from camscan.errors import FingerprintError
from camscan.fingerprint.bridges import BridgeSpec

try:  # the regex parser behind `re` (3.11+: re._parser): first characters of a pattern
    import re._constants as _sre_constants
    import re._parser as _sre_parser
except ImportError:  # pragma: no cover - older layout
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]
from camscan.fingerprint.rules import SURVEILLANCE_TYPES, Vendors, _read_yaml
from camscan.model import DEVICE_TYPES, Claim, Evidence
from camscan.protocols import PROTOCOLS

_SECTIONS = ("names", "families", "words", "clouds", "fields")
_MAKES = ("surveillance", "mixed", "other")
_LEFT, _RIGHT = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})")
_KV = re.compile(r"^([^=\n]{1,64})=(.*)$", re.MULTILINE)
_SCOPE = re.compile(r"onvif://www\.onvif\.org/([A-Za-z_]+)/(\S+)", re.IGNORECASE)
_RDN = re.compile(r"(?:^|,)\s*(CN|O|OU|commonName|organizationName)=((?:[^,\\]|\\.)*)", re.I)
_JUNK_VALUES = frozenset({"", "general", "oem", "default", "null", "none", "unknown", "n/a"})

# Confidences: a name in a field that names the maker (ONVIF Manufacturer, UPnP manufacturer)
# is nearly proof; a name somewhere in free text is a good hint; camera words and shared
# clouds only hint. Specific rules (0.8-0.95) outweigh all of them.
NAME_IN_MAKER_FIELD = 0.75
NAME_IN_TEXT = 0.6
NAME_TYPE_HINT = 0.3
# A surveillance maker's name run into other letters in a host name (LAXCAMDAHUA): a user's
# label for the device, so a hint below a name standing as a word.
NAME_GLUED = 0.45
GLUED_MIN = 5
_GLUE_WORDS = re.compile("cam|nvr|dvr|xvr|ipc|door|bell")
# Host names often end in their MAC's last 3 or all 6 bytes (ESP_E891AB, WLED-a1b2c3,
# shelly1-3c6105e4b2a1). A model number made of hex digits alone, of just those lengths
# (Vivotek CC8130, Beward B1055D), is not read as a model there.
_HOST_NAMES = frozenset({"dhcp_hostname", "mdns_service"})
_MAC_FRAGMENT = re.compile(r"[0-9A-Fa-f]{6}|[0-9A-Fa-f]{12}")
# An unknown name in a maker field (ONVIF Manufacturer=HeroSpeed), taken as the device wrote
# it: below the conflict floor of fusion, so any maker a rule or a known name gives wins.
AS_WRITTEN = 0.45
NAME_IN_REGISTRANT = 0.4  # the MAC's IEEE registrant: often the maker, sometimes a module's
REGISTRANT_SURVEILLANCE = 0.25  # that registrant sells video surveillance only
FAMILY_DEFAULT = 0.8
WORD_DEFAULT = 0.5
CLOUD_CAMERA = 0.7
CLOUD_SHARED = 0.3
MAX_FIELD = 2048  # characters of one field read


@dataclass(frozen=True, slots=True)
class LexExample:
    value: str
    protocol: str | None = None
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NameEntry:
    id: str
    name: str
    manufacturer: str | None
    brand: str | None
    brand_confidence: float
    makes: str
    regex: re.Pattern[str]
    protocols: frozenset[str] | None
    not_with: re.Pattern[str] | None
    file: str
    source: str = ""
    examples: tuple[LexExample, ...] = ()
    counterexamples: tuple[LexExample, ...] = ()
    own_name: bool = True  # the name itself is looked for, not only the aliases
    glued: bool = True  # also found run into other letters in host names (surveillance only)
    keys: tuple[str, ...] = ()  # index keys: each alias's first word and its words run together


@dataclass(frozen=True, slots=True)
class Family:
    id: str
    manufacturer: str | None
    brand: str | None
    regex: re.Pattern[str]
    device_type: str
    confidence: float
    file: str
    source: str = ""
    examples: tuple[str, ...] = ()
    counterexamples: tuple[str, ...] = ()
    serial: bool = False  # the pattern is a serial-number form, not a model number


@dataclass(frozen=True, slots=True)
class Word:
    id: str
    regex: re.Pattern[str]
    device_type: str
    confidence: float
    file: str
    examples: tuple[str, ...] = ()
    counterexamples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cloud:
    id: str
    domains: tuple[str, ...]
    manufacturer: str | None
    brand: str | None
    camera_only: bool
    file: str
    source: str = ""
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where names can be: whole values, the values of some keys, the maker fields."""

    text: frozenset[str] = frozenset()
    keys: dict[str, frozenset[str] | None] = field(default_factory=dict)  # None: every key
    maker_keys: dict[str, frozenset[str] | None] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()
    names_only: frozenset[str] = frozenset()  # names, never families or words (mac)
    placeholders: frozenset[str] = frozenset()  # maker-field values that name nobody
    bridges: BridgeSpec | None = None  # hosts that announce the devices they bridge

    def searched(self, protocol: str) -> bool:
        return (
            protocol in self.text
            or protocol in self.keys
            or protocol in self.names_only
            or protocol == "wsd_scopes"
        )


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    maker_field: bool  # the whole field names the maker or brand


def _split_camel(text: str) -> str:
    return _CAMEL.sub(" ", text)


def _bounded(pattern: str) -> str:
    return f"{_LEFT}(?:{pattern}){_RIGHT}"


class Lexicon:
    def __init__(
        self,
        names: list[NameEntry],
        families: list[Family],
        words: list[Word],
        clouds: list[Cloud],
        fields: FieldSpec,
    ) -> None:
        self.names = names
        self.families = families
        self.words = words
        self.clouds = clouds
        self.fields = fields
        self._families_re = _Dispatch([f.regex.pattern for f in families])
        self._words_re = _Dispatch([w.regex.pattern for w in words])
        self._name_index: dict[str, list[int]] = {}
        # Names of surveillance-only makers that host names run into other words
        # (LAXCAMDAHUA, frontdoorreolink): the single-word, case-insensitive aliases of five
        # letters or more. Common words are case-sensitive names, so they are never here.
        self._glued: dict[str, list[int]] = {}
        for i, entry in enumerate(names):
            gluable = (
                entry.makes == "surveillance" and entry.glued and entry.regex.flags & re.IGNORECASE
            )
            for key in entry.keys:
                self._name_index.setdefault(key, []).append(i)
                # Whole aliases only, not the first word of a longer one.
                if gluable and len(key) >= GLUED_MIN and key.isalpha() and key.isascii():
                    if entry.regex.fullmatch(key):
                        self._glued.setdefault(key, []).append(i)
        self._glued_re = (
            re.compile("|".join(sorted(map(re.escape, self._glued), key=len, reverse=True)))
            if self._glued
            else None
        )
        self._cloud_index: dict[str, Cloud] = {}
        for cloud in clouds:
            for domain in cloud.domains:
                self._cloud_index.setdefault(domain, cloud)

    def __len__(self) -> int:
        return len(self.names) + len(self.families) + len(self.words) + len(self.clouds)

    # ---------------------------------------------------------------- segments
    def segments(self, protocol: str, value: str) -> list[Segment]:
        """The parts of an evidence value that can carry a name, per fields.yaml."""
        spec = self.fields
        out: list[Segment] = []
        if protocol in spec.names_only:
            out.append(Segment(value, False))
        elif protocol in spec.text:
            text = value
            if protocol == "x509_subject":
                text = " ".join(unescape_rdn(v) for _, v in _RDN.findall(value)) or value
            out.append(Segment(text, protocol in spec.maker_keys))
        elif protocol in spec.keys:
            wanted = spec.keys[protocol]
            makers = spec.maker_keys.get(protocol, frozenset())
            for line in value.splitlines():
                key, eq, val = line.partition("=")
                k, val = key.strip().casefold(), val.strip()
                if not eq:  # a TXT string that is not key=value: read it whole
                    k, val = "", line.strip()
                    if wanted is not None:
                        continue
                if not val or (wanted is not None and k not in wanted):
                    continue
                out.append(Segment(val, makers is None or k in makers))
        elif protocol == "wsd_scopes":
            makers = spec.maker_keys.get(protocol, frozenset())
            for kind, rest in _SCOPE.findall(value):
                kind = kind.casefold()
                if kind in spec.scopes:
                    maker = makers is None or kind in makers
                    out.append(Segment(unquote(rest).replace("_", " "), maker))
        return out

    # ---------------------------------------------------------------- claims
    def claims(self, protocol: str, value: str, ev: Evidence | None = None) -> list[Claim]:
        if protocol == "dns_query":
            return self._cloud_claims(value, ev)
        if not self.fields.searched(protocol):
            return []
        found: dict[str, Claim] = {}
        for seg in self.segments(protocol, value):
            if seg.text.casefold() in _JUNK_VALUES:
                continue
            if len(seg.text) > MAX_FIELD:  # a name or model sits early in any honest field
                seg = Segment(seg.text[:MAX_FIELD], seg.maker_field)
            said = False
            for i, text in enumerate(_readings(seg.text)):
                # Names are read as written; only families and words in the split reading.
                for claim in self._segment_claims(protocol, seg, text, ev, names=i == 0):
                    said = True
                    old = found.get(claim.rule)
                    if old is None or claim.confidence > old.confidence:
                        found[claim.rule] = claim
            if seg.maker_field and not said:
                for claim in self._as_written(seg.text, ev):
                    found.setdefault(claim.rule, claim)
        return list(found.values())

    def _as_written(self, text: str, ev: Evidence | None) -> Iterator[Claim]:
        """A maker field naming nobody the lexicons know (no name, model or camera word in
        it): the maker and the label, as the device wrote them, weakly."""
        name = maker_as_written(text, self.fields.placeholders)
        if name is None:
            return
        yield Claim(
            rule="lexicon.as_written", confidence=AS_WRITTEN, manufacturer=name, evidence=ev
        )
        yield Claim(rule="lexicon.as_written.brand", confidence=AS_WRITTEN, brand=name, evidence=ev)

    def _segment_claims(
        self, protocol: str, seg: Segment, text: str, ev: Evidence | None, names: bool = True
    ) -> Iterator[Claim]:
        named: set[int] = set()
        for entry in self._name_candidates(text) if names else ():
            if entry.protocols is not None and protocol not in entry.protocols:
                continue
            if not entry.regex.search(text):
                continue
            if entry.not_with is not None and entry.not_with.search(seg.text):
                continue
            named.add(id(entry))
            yield from self._name_claims(entry, seg, ev, protocol in self.fields.names_only)
        if names and protocol in _HOST_NAMES:
            for entry in self._glued_names(text):
                if id(entry) not in named and (
                    entry.protocols is None or protocol in entry.protocols
                ):
                    named.add(id(entry))
                    yield from self._name_claims(entry, seg, ev, glued=True)
        if protocol in self.fields.names_only:
            return
        for fam, found in self._family_hits(text):
            found = " ".join(found.split())
            if protocol in _HOST_NAMES and _MAC_FRAGMENT.fullmatch(found):
                continue  # ESP_CC8130, shelly1-b1055de891ab: a MAC's digits, not a model
            yield Claim(
                rule=f"lexicon.family.{fam.id}",
                confidence=fam.confidence,
                manufacturer=fam.manufacturer,
                brand=fam.brand,
                model=None if fam.serial else found,
                serial=found if fam.serial else None,
                device_type=fam.device_type,
                is_surveillance=fam.device_type in SURVEILLANCE_TYPES,
                evidence=ev,
            )
        if self._words_re:
            for m in _at_token_starts(self._words_re, text):
                word = self.words[int(m.lastgroup[1:])]  # type: ignore[index]
                yield Claim(
                    rule=f"lexicon.word.{word.id}",
                    confidence=word.confidence,
                    device_type=word.device_type,
                    is_surveillance=word.device_type in SURVEILLANCE_TYPES,
                    evidence=ev,
                )

    def _glued_names(self, text: str) -> Iterator[NameEntry]:
        """Names run into other letters inside one word of a host name."""
        if self._glued_re is None:
            return
        for token in _TOKEN.findall(text.casefold()):
            if len(token) <= GLUED_MIN:
                continue
            for m in self._glued_re.finditer(token):
                alias = m.group(0)
                rest = token[: m.start()] + token[m.end() :]
                # A five-letter name is taken glued only to a number or a camera or recorder
                # word (LAXCAMDAHUA, dahua2, dahuanvr); longer names to anything
                # (frontdoorreolink).
                short = len(alias) <= GLUED_MIN
                if rest and (not short or not rest.isalpha() or _GLUE_WORDS.search(rest)):
                    for i in self._glued[alias]:
                        yield self.names[i]

    def _name_claims(
        self,
        entry: NameEntry,
        seg: Segment,
        ev: Evidence | None,
        registrant: bool = False,
        glued: bool = False,
    ) -> Iterator[Claim]:
        conf = NAME_IN_MAKER_FIELD if seg.maker_field else NAME_IN_TEXT
        if registrant:
            conf = NAME_IN_REGISTRANT
        elif glued:
            conf = NAME_GLUED
        surveillance = {"surveillance": True, "other": False}.get(entry.makes)
        man = entry.manufacturer
        if entry.brand is not None and man is not None:
            conf *= entry.brand_confidence
        yield Claim(
            rule=f"lexicon.name.{entry.id}",
            confidence=conf,
            manufacturer=man,
            brand=entry.brand,
            device_type="other" if entry.makes == "other" else None,
            is_surveillance=surveillance if entry.makes == "other" else None,
            evidence=ev,
        )
        if seg.maker_field and entry.brand is None and man is not None:
            # The label a maker field shows is the brand, whoever turns out to have made it.
            yield Claim(rule=f"lexicon.brand.{entry.id}", confidence=conf, brand=entry.name)
        if entry.makes == "surveillance" and registrant:
            # A company that sells only video surveillance registered the device's own MAC:
            # module makers (AzureWave, AMPAK, Bilian...) never have `makes: surveillance`.
            # Surveillance, weakly; what kind of device is left to other evidence.
            yield Claim(
                rule=f"lexicon.name.{entry.id}.registrant",
                confidence=REGISTRANT_SURVEILLANCE,
                is_surveillance=True,
                evidence=ev,
            )
        elif entry.makes == "surveillance":
            yield Claim(
                rule=f"lexicon.name.{entry.id}.type",
                confidence=NAME_TYPE_HINT,
                device_type="camera",
                is_surveillance=True,
                evidence=ev,
            )

    def _family_hits(self, text: str) -> Iterator[tuple[Family, str]]:
        if not self._families_re:
            return
        for m in _at_token_starts(self._families_re, text):
            yield self.families[int(m.lastgroup[1:])], m.group(0)  # type: ignore[index]

    def _name_candidates(self, text: str) -> list[NameEntry]:
        """The names whose aliases could be in `text`: an alias is word-bounded, so its first
        word (or all its words run together) is a whole token of the text."""
        hits: set[int] = set()
        index = self._name_index
        for token in _TOKEN.findall(text.casefold()):
            found = index.get(token)
            if found:
                hits.update(found)
        return [self.names[i] for i in sorted(hits)]

    def cloud_for(self, name: str) -> Cloud | None:
        labels = name.strip().rstrip(".").casefold().split(".")
        for i in range(len(labels) - 1):
            cloud = self._cloud_index.get(".".join(labels[i:]))
            if cloud is not None:
                return cloud
        return None

    def _cloud_claims(self, value: str, ev: Evidence | None) -> list[Claim]:
        cloud = self.cloud_for(value)
        if cloud is None:
            return []
        if cloud.camera_only:
            return [
                Claim(
                    rule=f"lexicon.cloud.{cloud.id}",
                    confidence=CLOUD_CAMERA,
                    manufacturer=cloud.manufacturer,
                    brand=cloud.brand,
                    device_type="camera",
                    is_surveillance=True,
                    evidence=ev,
                )
            ]
        return [
            Claim(
                rule=f"lexicon.cloud.{cloud.id}",
                confidence=CLOUD_SHARED,
                manufacturer=cloud.manufacturer,
                brand=cloud.brand,
                evidence=ev,
            )
        ]


_TOKEN = re.compile(r"[^\W_]+")
_TOKEN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]")


# Legal-form and trade words after a company's name ("Yamaha Corporation", "LG Electronics.",
# "Shenzhen Foo Technology Co., Ltd.").
_LEGAL_TAIL = re.compile(
    r"(?:[\s,.]+(?:co|corp|corporation|company|inc|incorporated|ltd|limited|llc|gmbh|ag|s\.?a|"
    r"b\.?v|s\.?r\.?l|pty|plc|kg|oy|ab|as|technology|technologies|tech|electronics?|"
    r"digital|intelligent|international|industries|industrial|group|holdings?)\b\.?)+[\s,.]*$",
    re.IGNORECASE,
)
_MAKER_SHAPE = re.compile(r"[A-Za-z][\w&.,+' -]{0,62}[\w.]|[A-Za-z]")


def maker_as_written(text: str, placeholders: frozenset[str] = frozenset()) -> str | None:
    """The maker a maker field names, legal form left out, or None when the value names
    nobody: a placeholder ('IPCAM', 'Manufacturer'), digits, an address, a sentence."""
    text = " ".join(text.split())
    if not _MAKER_SHAPE.fullmatch(text):
        return None
    name = _LEGAL_TAIL.sub("", text).strip(" ,.-") or text
    if len(name.split()) > 4 or len(name) > 40 or sum(ch.isalpha() for ch in name) < 2:
        return None
    if name.casefold() in placeholders or text.casefold() in placeholders:
        return None
    return name


def _at_token_starts(dispatch: _Dispatch, text: str) -> Iterator[re.Match[str]]:
    """Matches of word-bounded patterns, tried only where a word starts (where every match
    must start), and only the patterns that can begin with that word's first character."""
    end = 0
    for start in _TOKEN_START.finditer(text):
        pos = start.start()
        if pos < end:
            continue
        pattern = dispatch.for_char(text[pos])
        if pattern is None:
            continue
        m = pattern.match(text, pos)
        if m is not None:
            end = m.end()
            yield m


class _Dispatch:
    """Case-insensitive patterns combined per first character: at a word start only the
    patterns that can begin with its first character are tried (group g<i> = pattern i)."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = patterns
        self._firsts = [_first_chars(p) for p in patterns]
        self._cache: dict[str, re.Pattern[str] | None] = {}

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def for_char(self, ch: str) -> re.Pattern[str] | None:
        key = ch.casefold()
        if key not in self._cache:
            parts = [
                f"(?P<g{i}>{p})"
                for i, (p, first) in enumerate(zip(self.patterns, self._firsts, strict=True))
                if first is None or key in first
            ]
            self._cache[key] = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        return self._cache[key]


def _first_chars(pattern: str) -> frozenset[str] | None:
    """The casefolded characters a match of `pattern` can begin with; None when that cannot
    be told (any character, a negated class, a back-reference): then it is always tried."""
    try:
        parsed = _sre_parser.parse(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError):
        return None
    try:
        first, _ = _first_of(list(parsed))
    except _Unknown:
        return None
    return frozenset(c.casefold() for c in first)


class _Unknown(Exception):
    pass


def _first_of(items: list[Any]) -> tuple[set[str], bool]:
    """(first characters, can the sequence match empty)."""
    out: set[str] = set()
    for op, av in items:
        first, nullable = _first_of_one(op, av)
        out |= first
        if not nullable:
            return out, False
    return out, True


def _first_of_one(op: Any, av: Any) -> tuple[set[str], bool]:
    c = _sre_constants
    if op is c.LITERAL:
        return {chr(av)}, False
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return set(), True
    if op is c.IN:
        chars: set[str] = set()
        for iop, iav in av:
            if iop is c.LITERAL:
                chars.add(chr(iav))
            elif iop is c.RANGE and iav[1] - iav[0] < 256:
                chars.update(chr(x) for x in range(iav[0], iav[1] + 1))
            elif iop is c.CATEGORY and iav is c.CATEGORY_DIGIT:
                chars.update("0123456789")
            else:
                raise _Unknown
        return chars, False
    if op is c.SUBPATTERN:
        return _first_of(list(av[-1]))
    if op is c.BRANCH:
        chars, nullable = set(), False
        for alt in av[1]:
            first, null = _first_of(list(alt))
            chars |= first
            nullable = nullable or null
        return chars, nullable
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        first, null = _first_of(list(av[2]))
        return first, null or av[0] == 0
    raise _Unknown


def _alias_keys(aliases: Iterable[str]) -> tuple[str, ...]:
    keys: set[str] = set()
    for alias in aliases:
        words = _TOKEN.findall(alias.casefold())
        if words:
            keys.add(words[0])
            keys.add("".join(words))
    return tuple(sorted(keys))


def unescape_rdn(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).strip()


def _readings(text: str) -> tuple[str, ...]:
    split = _split_camel(text)
    return (text,) if split == text else (text, split)


# -------------------------------------------------------------------- loading
def _fail(path: Path, what: str | None, msg: str) -> FingerprintError:
    where = path.name + (f": {what}" if what else "")
    return FingerprintError(f"lexicon {where}: {msg}")


def _regex(path: Path, what: str, pattern: Any, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise _fail(path, what, "needs a non-empty pattern")
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise _fail(path, what, f"bad regex {pattern!r}: {exc}") from None


def _strings(path: Path, what: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _fail(path, what, "examples and counterexamples must be lists of strings")
    return tuple(raw)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


def _maker_brand(
    path: Path, what: str, vendors: Vendors, name: str
) -> tuple[str | None, str | None, float]:
    """A vendors.yaml name -> (manufacturer, brand, brand confidence)."""
    canon = vendors.canonical_brand(name)
    if canon is None:
        raise _fail(path, what, f"{name!r} is not in vendors.yaml")
    if canon in vendors.manufacturers and canon not in vendors.brands:
        return canon, None, 1.0
    info = vendors.brands[canon]
    if info.varies_by_model or info.manufacturer is None:
        return None, canon, 1.0
    return info.manufacturer, canon, info.confidence


def _name_examples(path: Path, what: str, raw: Any) -> tuple[LexExample, ...]:
    out = []
    for ex in raw or []:
        if isinstance(ex, str):
            out.append(LexExample(ex))
            continue
        if not isinstance(ex, dict) or not isinstance(ex.get("value"), str):
            raise _fail(path, what, "each example needs a value")
        proto = ex.get("protocol")
        if proto is not None and proto not in PROTOCOLS:
            raise _fail(path, what, f"unknown protocol {proto!r}")
        expect = ex.get("expect") or {}
        if not isinstance(expect, dict):
            raise _fail(path, what, "expect must be a mapping")
        out.append(LexExample(ex["value"], proto, dict(expect)))
    return tuple(out)


def _load_name(path: Path, raw: Any, vendors: Vendors) -> NameEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise _fail(path, None, "each names entry needs a name")
    name = raw["name"]
    what = f"name {name}"
    man, brand, bconf = _maker_brand(path, what, vendors, name)
    makes = raw.get("makes", "mixed")
    if makes not in _MAKES:
        raise _fail(path, what, f"makes must be one of {', '.join(_MAKES)}")
    # `aliases_only`: a product line's words (UniFi Protect) that name a maker of many kinds
    # of devices (Ubiquiti) whose own name must not count as "surveillance".
    aliases = [*([] if raw.get("aliases_only") else [name]), *(raw.get("aliases") or [])]
    if not aliases:
        raise _fail(path, what, "aliases_only needs aliases")
    if not all(isinstance(a, str) and a.strip() for a in aliases):
        raise _fail(path, what, "aliases must be non-empty strings")
    alts = "|".join(
        sorted({r"[\s_.-]?".join(re.escape(w) for w in a.split()) for a in aliases}, key=len)[::-1]
    )
    flags = 0 if raw.get("case_sensitive") else re.IGNORECASE
    protocols = raw.get("protocols")
    if protocols is not None:
        if not isinstance(protocols, list) or any(p not in PROTOCOLS for p in protocols):
            raise _fail(path, what, "protocols must be a list of evidence protocols")
        protocols = frozenset(protocols)
    not_with = raw.get("not_with")
    return NameEntry(
        id=str(raw.get("id") or _slug(name)),
        name=brand or man or name,
        manufacturer=man,
        brand=brand,
        brand_confidence=bconf,
        makes=makes,
        regex=_regex(path, what, _bounded(alts), flags),
        protocols=protocols,
        not_with=_regex(path, what, not_with, 0) if not_with is not None else None,
        file=path.name,
        source=str(raw.get("source") or ""),
        examples=_name_examples(path, what, raw.get("examples")),
        counterexamples=_name_examples(path, what, raw.get("counterexamples")),
        own_name=not raw.get("aliases_only"),
        glued=bool(raw.get("glued", True)),
        keys=_alias_keys(aliases),
    )


def _device_type(path: Path, what: str, raw: Any) -> str:
    if raw not in DEVICE_TYPES or raw == "unknown":
        raise _fail(
            path, what, f"device_type {raw!r} must be one of camera|nvr|dvr|encoder|doorbell|other"
        )
    return str(raw)


def _confidence(path: Path, what: str, raw: Any, default: float) -> float:
    if raw is None:
        return default
    if not isinstance(raw, int | float) or not 0 < raw <= 1:
        raise _fail(path, what, "confidence must be in (0, 1]")
    return float(raw)


def _entry_maker(
    path: Path, what: str, vendors: Vendors, man: Any, brand: Any
) -> tuple[str | None, str | None]:
    """An entry's maker and brand checked against vendors.yaml: the brand in the table's
    spelling, and the maker from the brand table when only the brand is given."""
    if man is not None and man not in vendors.manufacturers:
        raise _fail(path, what, f"maker {man!r} is not in vendors.yaml")
    if brand is not None:
        canon = vendors.canonical_brand(brand)
        if canon is None:
            raise _fail(path, what, f"brand {brand!r} is not in vendors.yaml")
        brand = canon
        if man is None:
            man, _, _ = _maker_brand(path, what, vendors, brand)
    return man, brand


def _load_family(path: Path, raw: Any, vendors: Vendors) -> Family:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise _fail(path, None, "each family needs an id")
    what = f"family {raw['id']}"
    man, brand = raw.get("maker"), raw.get("brand")
    # Neither: a family of no-name hardware (a SoC's reference design) gives the type only.
    man, brand = _entry_maker(path, what, vendors, man, brand)
    pattern = _regex(path, what, raw.get("pattern"))
    examples = _strings(path, what, raw.get("examples"))
    if not examples:
        raise _fail(path, what, "needs at least one example")
    return Family(
        id=raw["id"],
        manufacturer=man,
        brand=brand,
        regex=re.compile(_bounded(pattern.pattern), re.IGNORECASE),
        device_type=_device_type(path, what, raw.get("device_type")),
        confidence=_confidence(path, what, raw.get("confidence"), FAMILY_DEFAULT),
        file=path.name,
        source=str(raw.get("source") or ""),
        examples=examples,
        counterexamples=_strings(path, what, raw.get("counterexamples")),
        serial=raw.get("field", "model") == "serial",
    )


def _load_word(path: Path, raw: Any, index: int) -> Word:
    if not isinstance(raw, dict):
        raise _fail(path, None, "each word must be a mapping")
    wid = str(raw.get("id") or f"{path.stem}{index}")
    what = f"word {wid}"
    pattern = _regex(path, what, raw.get("pattern"))
    examples = _strings(path, what, raw.get("examples"))
    if not examples:
        raise _fail(path, what, "needs at least one example")
    return Word(
        id=wid,
        regex=re.compile(_bounded(pattern.pattern), re.IGNORECASE),
        device_type=_device_type(path, what, raw.get("device_type")),
        confidence=_confidence(path, what, raw.get("confidence"), WORD_DEFAULT),
        file=path.name,
        examples=examples,
        counterexamples=_strings(path, what, raw.get("counterexamples")),
    )


def _load_cloud(path: Path, raw: Any, vendors: Vendors) -> Cloud:
    if not isinstance(raw, dict):
        raise _fail(path, None, "each cloud must be a mapping")
    domains = raw.get("domains")
    if isinstance(domains, str):
        domains = [domains]
    if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
        raise _fail(path, None, "each cloud needs a list of domains")
    cid = str(raw.get("id") or _slug(domains[0]))
    what = f"cloud {cid}"
    man, brand = raw.get("maker"), raw.get("brand")
    if man is None and brand is None:
        raise _fail(path, what, "needs a maker or a brand")
    man, brand = _entry_maker(path, what, vendors, man, brand)
    examples = _strings(path, what, raw.get("examples"))
    if not examples:
        raise _fail(path, what, "needs at least one example")
    return Cloud(
        id=cid,
        domains=tuple(d.strip().strip(".").casefold() for d in domains),
        manufacturer=man,
        brand=brand,
        camera_only=bool(raw.get("camera_only", False)),
        file=path.name,
        source=str(raw.get("source") or ""),
        examples=examples,
    )


def _keyset(path: Path, raw: Any) -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for proto, keys in (raw or {}).items():
        if proto not in PROTOCOLS:
            raise _fail(path, "fields", f"unknown protocol {proto!r}")
        if keys == "*":
            out[proto] = None
        elif isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            out[proto] = frozenset(k.casefold() for k in keys)
        else:
            raise _fail(path, "fields", f"{proto}: keys must be a list or '*'")
    return out


def _load_fields(path: Path, raw: Any) -> FieldSpec:
    if not isinstance(raw, dict):
        raise _fail(path, "fields", "must be a mapping")
    text = raw.get("text") or []
    if any(p not in PROTOCOLS for p in text):
        raise _fail(path, "fields", "text lists unknown protocols")
    return FieldSpec(
        text=frozenset(text),
        keys=_keyset(path, raw.get("keys")),
        maker_keys=_keyset(path, raw.get("maker_keys")),
        scopes=frozenset(str(s).casefold() for s in raw.get("scopes") or []),
        names_only=frozenset(raw.get("names_only") or []),
        placeholders=frozenset(str(p).casefold() for p in raw.get("placeholders") or []),
        bridges=_load_bridges(path, raw.get("bridges")),
    )


def _load_bridges(path: Path, raw: Any) -> BridgeSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("txt_keys"), list):
        raise _fail(path, "fields", "bridges: needs service, txt_keys, names and bridge_txt")
    return BridgeSpec(
        service=_regex(path, "bridges.service", raw.get("service")),
        txt_keys=frozenset(str(k).casefold() for k in raw["txt_keys"]),
        names=_regex(path, "bridges.names", raw.get("names")),
        bridge_txt=_regex(path, "bridges.bridge_txt", raw.get("bridge_txt"), re.MULTILINE),
        min_keys=int(raw.get("min_keys", 3)),
    )


def lexicon_files(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        sub = d / "lexicon" if (d / "lexicon").is_dir() else None
        if sub is not None:
            files.extend(sorted(sub.glob("*.yaml")))
    return files


def load_lexicon(files: Iterable[Path], vendors: Vendors) -> Lexicon:
    names: list[NameEntry] = []
    families: list[Family] = []
    words: list[Word] = []
    clouds: list[Cloud] = []
    fields: FieldSpec | None = None
    seen: dict[str, str] = {}
    for path in files:
        data = _read_yaml(path)
        if data is None:
            continue
        if not isinstance(data, dict) or not set(data) & set(_SECTIONS):
            raise _fail(path, None, f"needs one of the sections {', '.join(_SECTIONS)}")
        before = (len(names), len(families), len(clouds))
        for raw in data.get("names") or []:
            names.append(_load_name(path, raw, vendors))
        for raw in data.get("families") or []:
            families.append(_load_family(path, raw, vendors))
        for i, raw in enumerate(data.get("words") or []):
            words.append(_load_word(path, raw, i))
        for raw in data.get("clouds") or []:
            clouds.append(_load_cloud(path, raw, vendors))
        if "fields" in data:
            fields = _load_fields(path, data["fields"])
        new_ids = (
            [("name", n.id) for n in names[before[0] :]]
            + [("family", f.id) for f in families[before[1] :]]
            + [("cloud", c.id) for c in clouds[before[2] :]]
        )
        for kind, ident in new_ids:
            key = f"{kind}:{ident}"
            if key in seen:
                raise _fail(path, None, f"duplicate {kind} id {ident!r} (also in {seen[key]})")
            seen[key] = path.name
    names.extend(_table_names(vendors, names))
    return Lexicon(names, families, words, clouds, fields or FieldSpec())


def _table_names(vendors: Vendors, explicit: list[NameEntry]) -> list[NameEntry]:
    """Every maker and brand of the vendor table is a name too, as written (case-insensitive
    from five letters on; shorter ones exactly as the table spells them), with no kind: the
    explicit `names` entries say more, and take precedence."""
    covered = {e.name.casefold() for e in explicit if e.own_name}
    covered |= {e.id for e in explicit if e.own_name}
    out = []
    for name in sorted({*vendors.manufacturers, *vendors.brands}):
        if name.casefold() in covered or _slug(name) in covered:
            continue
        man, brand, bconf = _maker_brand(Path("vendors.yaml"), f"name {name}", vendors, name)
        flags = re.IGNORECASE if len(name) >= 5 else 0
        words = r"[\s_.-]?".join(re.escape(w) for w in name.split())
        out.append(
            NameEntry(
                id=_slug(name),
                name=brand or man or name,
                manufacturer=man,
                brand=brand,
                brand_confidence=bconf,
                makes="mixed",
                regex=re.compile(_bounded(words), flags),
                protocols=None,
                not_with=None,
                file="vendors.yaml",
                keys=_alias_keys([name]),
            )
        )
    return out
