"""The real-world development set (tests/realworld/): evidence from real devices, run through
the same engine and fusion as a scan, with accuracy per source and per evidence field."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camscan.fingerprint.engine import Engine
from camscan.identify import identify
from camscan.model import Device

RESTRICTED_MAKERS = frozenset({"Hikvision", "Dahua", "Hytera"})


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    source: str
    evidence: tuple[tuple[str, str], ...]
    maker: str | None
    brand: str | None
    device_type: str
    carries_maker: bool
    camera: bool

    @property
    def field(self) -> str:
        protocols = sorted({p for p, _ in self.evidence})
        return protocols[0] if len(protocols) == 1 else "several"


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    device: Device

    @property
    def maker_right(self) -> bool:
        got_maker = (self.device.manufacturer or "").casefold()
        got_brand = (self.device.brand or "").casefold()
        if self.case.maker and self.case.maker.casefold() in (got_maker, got_brand):
            # The maker; the maker's own label on a line it sold (Panasonic on an i-PRO); or
            # a white label whose maker nobody publishes, named as such (maker: verify).
            return True
        # A brand whose maker varies by model, named right: camscan asks to verify the maker.
        brand = (self.case.brand or "").casefold()
        return bool(brand) and not got_maker and got_brand == brand

    @property
    def flagged(self) -> bool:
        return self.device.is_surveillance

    @property
    def restricted_claim(self) -> str | None:
        for claim in self.device.claims:
            if claim.manufacturer in RESTRICTED_MAKERS:
                return claim.rule
        return None


@dataclass(slots=True)
class Tally:
    n: int = 0
    hits: int = 0

    def add(self, ok: bool) -> None:
        self.n += 1
        self.hits += ok

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else 0.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.n} ({100 * self.rate:.1f}%)" if self.n else "-"


@dataclass(slots=True)
class Report:
    outcomes: list[Outcome]
    maker: Tally = field(default_factory=Tally)  # cameras whose evidence carries the maker
    camera_flagged: Tally = field(default_factory=Tally)  # cameras called surveillance
    other_clear: Tally = field(default_factory=Tally)  # non-cameras not called surveillance
    by_source: dict[str, dict[str, Tally]] = field(default_factory=dict)
    by_field: dict[str, dict[str, Tally]] = field(default_factory=dict)
    restricted_on_others: list[tuple[str, str]] = field(default_factory=list)
    maker_misses: list[Outcome] = field(default_factory=list)
    false_flags: list[Outcome] = field(default_factory=list)

    def makers(self) -> int:
        return len({o.case.maker or o.case.brand for o in self.outcomes if o.case.camera} - {None})


def load_cases(paths: Iterable[Path]) -> list[Case]:
    cases = []
    for path in paths:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw: dict[str, Any] = json.loads(line)
                cases.append(
                    Case(
                        id=str(raw["id"]),
                        source=str(raw["source"]),
                        evidence=tuple((e["protocol"], e["value"]) for e in raw["evidence"]),
                        maker=raw.get("maker"),
                        brand=raw.get("brand"),
                        device_type=str(raw.get("device_type") or "other"),
                        carries_maker=bool(raw.get("carries_maker")),
                        camera=raw.get("device_type") not in (None, "other"),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path.name}:{lineno}: bad case: {exc}") from None
    return cases


def evaluate(cases: Iterable[Case], engine: Engine) -> Report:
    report = Report(outcomes=[])
    src: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    fld: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for case in cases:
        out = Outcome(case, identify(case.evidence, engine))
        report.outcomes.append(out)
        buckets = (src[case.source], fld[case.field])
        if case.camera:
            report.camera_flagged.add(out.flagged)
            for b in buckets:
                b["camera flagged"].add(out.flagged)
            if case.carries_maker:
                report.maker.add(out.maker_right)
                for b in buckets:
                    b["maker right"].add(out.maker_right)
                if not out.maker_right:
                    report.maker_misses.append(out)
        else:
            report.other_clear.add(not out.flagged)
            for b in buckets:
                b["other clear"].add(not out.flagged)
            if out.flagged:
                report.false_flags.append(out)
            rule = out.restricted_claim
            if rule is not None:
                report.restricted_on_others.append((case.id, rule))
    report.by_source = {k: dict(v) for k, v in sorted(src.items())}
    report.by_field = {k: dict(v) for k, v in sorted(fld.items())}
    return report


def format_report(report: Report) -> str:
    cols = ("maker right", "camera flagged", "other clear")
    lines = [
        f"cases: {len(report.outcomes)} "
        f"({sum(o.case.camera for o in report.outcomes)} surveillance from {report.makers()} "
        f"makers/brands, {sum(not o.case.camera for o in report.outcomes)} other)",
        f"maker right, where the evidence carries it: {report.maker}",
        f"surveillance devices called surveillance: {report.camera_flagged}",
        f"other devices not called surveillance: {report.other_clear}",
        f"Hikvision/Dahua/Hytera claims on other devices: {len(report.restricted_on_others)}",
    ]
    for title, table in (("source", report.by_source), ("field", report.by_field)):
        lines.append("")
        lines.append(f"{'per ' + title:<22}" + "".join(f"{c:>20}" for c in cols))
        for key, tallies in table.items():
            cells = "".join(f"{str(tallies.get(c, Tally())):>20}" for c in cols)
            lines.append(f"{key:<22}{cells}")
    if report.maker_misses:
        lines.append("")
        lines.append("maker missed:")
        for o in report.maker_misses:
            lines.append(
                f"  {o.case.id}: want {o.case.maker}, got {o.device.manufacturer} ({o.device.brand})"
            )
    if report.false_flags:
        lines.append("")
        lines.append("other devices called surveillance:")
        for o in report.false_flags:
            lines.append(
                f"  {o.case.id} ({o.case.maker}): {o.device.manufacturer} {o.device.device_type}"
            )
    return "\n".join(lines)
