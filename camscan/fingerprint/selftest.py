"""recog-style self-test: every example matches its own rule, yields exactly its stated
fields, and is not claimed more strongly by another manufacturer's rule."""

from __future__ import annotations

from dataclasses import dataclass

from camscan.fingerprint.engine import Engine
from camscan.fingerprint.rules import Rule


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


def run_selftest(engine: Engine) -> Report:
    failures: list[Failure] = []
    examples = 0
    for rule in engine.rules:
        n, f = check_rule(engine, rule)
        examples += n
        failures.extend(f)
    return Report(len(engine.rules), examples, tuple(failures))
