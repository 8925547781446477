"""Restriction regimes as data: load and validate camscan/data/regimes.yaml, pick the ones a
run applies, and decide whether one regime covers one device."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from camscan.errors import UsageError
from camscan.policy.datafile import fail, read_yaml, text_date

KINDS = ("restriction", "watch")
SCOPES = frozenset(
    {
        "procurement",  # buying for the government
        "use",  # using in government
        "contractor-use",  # contractors using it anywhere (NDAA 889(a)(1)(B))
        "funding",  # grants, loans, subsidies
        "authorization",  # equipment authorization (FCC)
        "import",
        "sale",
        "operations",  # the company's local operations
        "legacy-review",  # existing installations to be reviewed
        "deployment",  # no new deployments
        "network-connection",  # keep off core networks
        "removal",
        "watch",
    }
)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_KEYS = {
    "id",
    "name",
    "kind",
    "jurisdiction",
    "instrument",
    "date",
    "milestones",
    "scope",
    "manufacturers",
    "subsidiaries_and_affiliates",
    "relabels",
    "surveillance_only",
    "producer_country",
    "sources",
    "note",
}


@dataclass(frozen=True, slots=True)
class Milestone:
    date: str
    what: str


@dataclass(frozen=True, slots=True)
class Regime:
    id: str
    name: str
    kind: str  # restriction | watch
    jurisdiction: str
    instrument: str
    date: str
    scope: tuple[str, ...]
    manufacturers: tuple[str, ...]
    subsidiaries_and_affiliates: bool
    relabels: bool
    surveillance_only: bool
    sources: tuple[str, ...]
    note: str = ""
    producer_country: str | None = None
    milestones: tuple[Milestone, ...] = ()

    @property
    def is_watch(self) -> bool:
        return self.kind == "watch"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "jurisdiction": self.jurisdiction,
            "instrument": self.instrument,
            "date": self.date,
            "milestones": [{"date": m.date, "what": m.what} for m in self.milestones],
            "scope": list(self.scope),
            "manufacturers": list(self.manufacturers),
            "subsidiaries_and_affiliates": self.subsidiaries_and_affiliates,
            "relabels": self.relabels,
            "surveillance_only": self.surveillance_only,
            "producer_country": self.producer_country,
            "sources": list(self.sources),
            "note": self.note,
        }


def default_regimes_path() -> Path:
    return Path(str(files("camscan").joinpath("data/regimes.yaml")))


def load_regimes(path: str | Path | None = None) -> dict[str, Regime]:
    """Every regime in the file, in file order, keyed by id. Problems are one-line DataErrors
    naming the file and the entry."""
    source = Path(path) if path is not None else default_regimes_path()
    data = read_yaml(source)
    if not isinstance(data, dict) or not isinstance(data.get("regimes"), list):
        raise fail(source, None, "needs a top-level 'regimes' list")
    out: dict[str, Regime] = {}
    for i, raw in enumerate(data["regimes"], 1):
        regime = _regime(source, i, raw)
        if regime.id in out:
            raise fail(source, f"regime {regime.id}", "duplicate id")
        out[regime.id] = regime
    if not out:
        raise fail(source, None, "lists no regime")
    return out


# --policy also takes a jurisdiction: every regime whose `jurisdiction` is that country.
JURISDICTIONS = {"ca": "CA", "us": "US", "uk": "GB", "gb": "GB", "au": "AU"}


def jurisdictions(regimes: dict[str, Regime]) -> dict[str, list[str]]:
    """Jurisdiction word -> the ids of its regimes (only jurisdictions that have any)."""
    out: dict[str, list[str]] = {}
    for word, code in JURISDICTIONS.items():
        ids = [r.id for r in regimes.values() if r.jurisdiction.upper() == code]
        if ids:
            out[word] = ids
    return out


def policy_choices(regimes: dict[str, Regime]) -> str:
    """What --policy accepts, for help texts and error messages."""
    words = [w for w in jurisdictions(regimes) if w != "gb"]
    return f"all, a country ({', '.join(words)}) or regime ids ({', '.join(regimes)})"


def select_regimes(ids: str | None, regimes: dict[str, Regime]) -> list[Regime]:
    """`--policy X[,X]`, each X a regime id or a jurisdiction (`us` selects every US regime).
    None, '' or 'all' selects every regime (watch lists included)."""
    wanted = [p.strip() for p in (ids or "").split(",") if p.strip()]
    if not wanted or wanted == ["all"]:
        return list(regimes.values())
    by_country = jurisdictions(regimes)
    chosen: list[str] = []
    unknown = []
    for w in wanted:
        if w in regimes:
            chosen.append(w)
        elif w.casefold() in by_country:
            chosen.extend(by_country[w.casefold()])
        elif w == "all":
            chosen.extend(regimes)
        else:
            unknown.append(w)
    if unknown:
        raise UsageError(
            f"--policy: unknown regime or country {', '.join(repr(u) for u in unknown)}; "
            f"valid: {policy_choices(regimes)}"
        )
    return [regimes[w] for w in dict.fromkeys(chosen)]


def _str(source: Path, where: str, raw: dict[str, Any], key: str, required: bool = True) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    value = text_date(value) if key == "date" else value
    if not isinstance(value, str) or not value.strip():
        raise fail(source, where, f"{key} must be a non-empty string")
    return value.strip()


def _bool(source: Path, where: str, raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise fail(source, where, f"{key} must be true or false")
    return value


def _str_list(source: Path, where: str, raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise fail(source, where, f"{key} must be a non-empty list")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(source, where, f"{key} must hold non-empty strings")
    return tuple(v.strip() for v in value)


def _regime(source: Path, index: int, raw: Any) -> Regime:
    if not isinstance(raw, dict):
        raise fail(source, f"entry {index}", "each regime must be a mapping")
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise fail(source, f"entry {index}", "id must be lower-case letters, digits and '-'")
    where = f"regime {rid}"
    unknown = set(raw) - _KEYS
    if unknown:
        raise fail(source, where, f"unknown keys {sorted(unknown)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise fail(source, where, f"kind must be one of {', '.join(KINDS)}")
    date = _str(source, where, raw, "date")
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", date):
        raise fail(source, where, f"date {date!r} must be YYYY, YYYY-MM or YYYY-MM-DD")
    scope = _str_list(source, where, raw, "scope")
    bad = [s for s in scope if s not in SCOPES]
    if bad:
        raise fail(source, where, f"unknown scope {bad[0]!r}; known: {', '.join(sorted(SCOPES))}")
    sources = _str_list(source, where, raw, "sources")
    if not all(s.startswith(("https://", "http://")) for s in sources):
        raise fail(source, where, "sources must be http(s) URLs")
    country = raw.get("producer_country")
    if country is not None and not (
        isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)
    ):
        raise fail(source, where, "producer_country must be a two-letter country code")
    milestones = []
    for m in raw.get("milestones") or []:
        if not isinstance(m, dict) or not isinstance(m.get("what"), str):
            raise fail(source, where, "milestones need {date, what}")
        mdate = text_date(m.get("date"))
        if not isinstance(mdate, str) or not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", mdate):
            raise fail(source, where, "milestone dates must be YYYY[-MM[-DD]]")
        milestones.append(Milestone(mdate, m["what"]))
    return Regime(
        id=rid,
        name=_str(source, where, raw, "name"),
        kind=kind,
        jurisdiction=_str(source, where, raw, "jurisdiction"),
        instrument=_str(source, where, raw, "instrument"),
        date=date,
        scope=scope,
        manufacturers=_str_list(source, where, raw, "manufacturers"),
        subsidiaries_and_affiliates=_bool(source, where, raw, "subsidiaries_and_affiliates"),
        relabels=_bool(source, where, raw, "relabels"),
        surveillance_only=_bool(source, where, raw, "surveillance_only"),
        sources=sources,
        note=" ".join(_str(source, where, raw, "note", required=False).split()),
        producer_country=country,
        milestones=tuple(milestones),
    )
