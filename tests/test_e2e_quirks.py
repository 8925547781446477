"""Real stacks that bend the standards, in a small lab of their own: the scanner must still
read them. A WS-Discovery stack that sends its ProbeMatches to the multicast group instead of
back to the prober is heard by the scanner's group listener."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from camscan.lab.personas import load_personas, personas_from_data
from tests.conftest import assert_schema_valid

pytestmark = pytest.mark.lab


def _group_replier() -> dict[str, Any]:
    base = next(p for p in load_personas() if p.name == "uniview-cam")
    raw = copy.deepcopy(base.raw)
    raw.update(name="wsd-to-group", ip="198.18.0.60")
    for block in ("http", "rtsp", "onvif", "tcp"):
        raw.pop(block, None)  # WS-Discovery is all it speaks
    raw["wsd"]["reply_to"] = "group"
    return raw


@pytest.fixture(scope="module")
def quirky_office() -> Iterator[Any]:
    from camscan.lab.office import Office
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    credentials = {"username": "admin", "password": "camscan-Lab-2026"}
    personas = personas_from_data({"credentials": credentials, "devices": [_group_replier()]})
    with Office(personas) as running:
        yield running


def test_probe_matches_sent_to_the_group_are_heard(quirky_office: Any) -> None:
    doc = quirky_office.scan(["--modules", "arp,wsd"])
    assert_schema_valid(doc)
    [device] = [d for d in doc["devices"] if d["ip"] == "198.18.0.60"]
    wsd = [e for e in device["evidence"] if e["module"] == "wsd"]
    assert {e["protocol"] for e in wsd} == {"wsd_types", "wsd_scopes"}
    assert device["manufacturer"] == "Uniview" and device["model"] == "IPC3612LB-ADF28K-G"
    assert quirky_office.audit() == []
