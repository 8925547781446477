"""recog-style self-test: every example matches its own rule, yields exactly its stated
fields, and is not claimed more strongly by another manufacturer's rule."""

from __future__ import annotations

from dataclasses import dataclass

from camscan.fingerprint.engine import Engine
from camscan.fingerprint.lexicon import Lexicon
from camscan.fingerprint.rules import Rule
from camscan.model import Claim


@dataclass(frozen=True, slots=True)
class Failure:
    rule: str
    file: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: rule {self.rule}: example {self.value!r}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Report:
    rules: int
    examples: int
    failures: tuple[Failure, ...]
    lexicon: int = 0


def check_rule(engine: Engine, rule: Rule) -> tuple[int, list[Failure]]:
    failures: list[Failure] = []
    count = 0
    for ex in rule.examples:
        count += 1
        claims = engine.match_value(rule.protocol, ex.value, ex.host or None)
        own = [c for c in claims if c.rule == rule.id]
        if not own:
            failures.append(Failure(rule.id, rule.file, ex.value, "does not match its own rule"))
            continue
        claim = own[0]
        got: dict[str, object] = dict(claim.fields())
        want = {k: v for k, v in ex.expect.items() if k != "is_surveillance" and v is not None}
        if "is_surveillance" in ex.expect:
            got["is_surveillance"] = claim.is_surveillance
            want["is_surveillance"] = ex.expect["is_surveillance"]
        if got != want:
            failures.append(Failure(rule.id, rule.file, ex.value, f"yields {got}, expected {want}"))
        if claim.manufacturer is not None:
            for other in claims:
                if (
                    other.manufacturer is not None
                    and other.manufacturer != claim.manufacturer
                    and other.confidence > claim.confidence
                ):
                    failures.append(
                        Failure(
                            rule.id,
                            rule.file,
                            ex.value,
                            f"shadowed by {other.rule} ({other.manufacturer}, "
                            f"{other.confidence} > {claim.confidence})",
                        )
                    )
    for value in rule.counterexamples:
        count += 1
        host = rule.examples[0].host or None
        if any(c.rule == rule.id for c in engine.match_value(rule.protocol, value, host)):
            failures.append(Failure(rule.id, rule.file, value, "counterexample matches"))
    return count, failures


def check_lexicon(lexicon: Lexicon) -> tuple[int, list[Failure]]:
    """Every lexicon example is found by its own entry (and only a family of the same maker
    finds a family example); no counterexample is."""
    failures: list[Failure] = []
    count = 0

    def rules_of(protocol: str, value: str) -> dict[str, Claim]:
        return {c.rule: c for c in lexicon.claims(protocol, value)}

    for entry in lexicon.names:
        rid = f"lexicon.name.{entry.id}"
        for ex in entry.examples:
            count += 1
            claim = rules_of(ex.protocol or "html_title", ex.value).get(rid)
            if claim is None:
                failures.append(Failure(rid, entry.file, ex.value, "name not found"))
                continue
            got = claim.fields()
            for key, want in ex.expect.items():
                if key in got and got[key] != want:
                    failures.append(
                        Failure(
                            rid, entry.file, ex.value, f"{key} is {got[key]!r}, expected {want!r}"
                        )
                    )
        for ex in entry.counterexamples:
            count += 1
            if rid in rules_of(ex.protocol or "html_title", ex.value):
                failures.append(Failure(rid, entry.file, ex.value, "counterexample matches"))
    for fam in lexicon.families:
        rid = f"lexicon.family.{fam.id}"
        for value in fam.examples:
            count += 1
            found = rules_of("upnp_model", value)
            if rid not in found:
                failures.append(Failure(rid, fam.file, value, "family not found"))
                continue
            for other in found.values():
                if other.rule.startswith("lexicon.family.") and other.manufacturer not in (
                    None,
                    fam.manufacturer,
                ):
                    failures.append(
                        Failure(rid, fam.file, value, f"also {other.rule} ({other.manufacturer})")
                    )
        for value in fam.counterexamples:
            count += 1
            if rid in rules_of("upnp_model", value):
                failures.append(Failure(rid, fam.file, value, "counterexample matches"))
    for word in lexicon.words:
        rid = f"lexicon.word.{word.id}"
        for value in word.examples:
            count += 1
            if rid not in rules_of("html_title", value):
                failures.append(Failure(rid, word.file, value, "word not found"))
        for value in word.counterexamples:
            count += 1
            if rid in rules_of("html_title", value):
                failures.append(Failure(rid, word.file, value, "counterexample matches"))
    for cloud in lexicon.clouds:
        for value in cloud.examples:
            count += 1
            if lexicon.cloud_for(value) is not cloud:
                failures.append(
                    Failure(f"lexicon.cloud.{cloud.id}", cloud.file, value, "not this cloud")
                )
    return count, failures


def run_selftest(engine: Engine) -> Report:
    failures: list[Failure] = []
    examples = 0
    for rule in engine.rules:
        n, f = check_rule(engine, rule)
        examples += n
        failures.extend(f)
    entries = 0
    if engine.lexicon is not None:
        n, f = check_lexicon(engine.lexicon)
        examples += n
        failures.extend(f)
        entries = len(engine.lexicon)
    return Report(len(engine.rules), examples, tuple(failures), entries)
