"""The real-world development set (tests/realworld/, sources and licences in SOURCES.md): every
case through the same engine and fusion as a scan. Prints the accuracy per source and field
(`pytest -s`, or bench/bench_realworld.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from camscan.devset import Report, evaluate, format_report, load_cases
from camscan.fingerprint.engine import Engine

ROOT = Path(__file__).parent / "realworld"


@pytest.fixture(scope="module")
def report() -> Report:
    cases = load_cases(sorted(ROOT.glob("*.jsonl")))
    result = evaluate(cases, Engine.load())
    print("\n" + format_report(result))
    return result


def test_every_source_is_named_with_its_licence() -> None:
    sources_md = (ROOT / "SOURCES.md").read_text(encoding="utf-8")
    for case in load_cases(sorted(ROOT.glob("*.jsonl"))):
        assert case.source in sources_md, f"{case.id}: source {case.source} not in SOURCES.md"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in load_cases(sorted(ROOT.glob("*.jsonl")))]
    assert len(ids) == len(set(ids))


def test_no_restricted_maker_claimed_on_any_other_device(report: Report) -> None:
    assert report.restricted_on_others == []


def test_other_devices_are_not_called_surveillance(report: Report) -> None:
    assert report.other_clear.rate >= MIN_OTHER_CLEAR, format_report(report)


def test_maker_named_where_the_evidence_carries_it(report: Report) -> None:
    assert report.maker.rate >= MIN_MAKER_RIGHT, format_report(report)


def test_surveillance_devices_are_recognised(report: Report) -> None:
    assert report.camera_flagged.rate >= MIN_CAMERA_FLAGGED, format_report(report)


# Floors at the figures measured when the set was last grown (README "Accuracy"): a change
# that makes identification worse fails here.
MIN_MAKER_RIGHT = 0.94
MIN_CAMERA_FLAGGED = 0.55
MIN_OTHER_CLEAR = 0.99
