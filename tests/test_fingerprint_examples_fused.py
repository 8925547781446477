"""A rule's examples hold for the whole engine too: when an example is a host's only evidence,
fusing every claim the rules and lexicons make (as a scan does) must not contradict what the
example says about surveillance or the maker. A lexicon word or name that overrules a rule's
own example is a data conflict, found here rather than on a customer's network."""

from __future__ import annotations

import pytest

from camscan.fingerprint.engine import Engine
from camscan.identify import identify

ENGINE = Engine.load()
CASES = [
    (rule.id, rule.protocol, ex.value, ex.expect)
    for rule in ENGINE.rules
    if not rule.requires
    for ex in rule.examples
    if {"manufacturer", "is_surveillance"} & set(ex.expect or {})
]


def test_there_are_examples_to_check() -> None:
    assert len(CASES) > 300


@pytest.mark.parametrize(
    ("rule_id", "protocol", "value", "expect"),
    CASES,
    ids=[f"{c[0]}:{i}" for i, c in enumerate(CASES)],
)
def test_fused_device_agrees_with_the_rule_example(
    rule_id: str, protocol: str, value: str, expect: dict[str, object]
) -> None:
    device = identify([(protocol, value)], ENGINE)
    if "is_surveillance" in expect:
        assert device.is_surveillance == expect["is_surveillance"], (rule_id, device.claims)
    if "manufacturer" in expect:
        assert expect["manufacturer"] in (device.manufacturer, device.brand), (
            rule_id,
            device.claims,
        )
