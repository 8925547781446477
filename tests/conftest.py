"""Shared fixtures. The lab fixtures build one emulated office per test session and tear it
down at the end, also when tests fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from camscan.schema import schema_errors


def assert_schema_valid(doc: dict[str, Any]) -> None:
    errors = schema_errors(doc)
    assert errors == [], errors[:5]


@pytest.fixture(scope="session")
def office() -> Iterator[Any]:
    from camscan.lab.office import Office
    from camscan.lab.personas import load_personas
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    with Office(load_personas()) as running:
        yield running


@pytest.fixture(scope="session")
def hostile_office() -> Iterator[Any]:
    """The office with the hostile and broken devices (personas/hostile.yaml) beside it."""
    from camscan.lab.office import Office
    from camscan.lab.personas import HOSTILE_PERSONAS, load_personas
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    with Office(load_personas() + load_personas(HOSTILE_PERSONAS)) as running:
        yield running


@pytest.fixture(scope="session")
def office_scan(office: Any) -> dict[str, Any]:
    """One full scan of the default office with every module, shared by the e2e tests."""
    doc = office.scan()
    assert_schema_valid(doc)
    return doc
