"""A routed sparse range: the scanner in 198.18.0.0/24, three devices scattered over
198.19.0.0/20 behind a router namespace that answers as real routers do (host unreachable
after ARP fails in a device's VLAN, net unreachable elsewhere, both rate-limited). The scan
must find and name every device through its liveness pass and report the list complete; a
range the scanner has no route to must come back partial with exit status 3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import assert_schema_valid

pytestmark = pytest.mark.lab

ROUTED = "198.19.0.0/20"


@pytest.fixture(scope="module")
def routed_office() -> Iterator[Any]:
    from camscan.lab.office import Office, routed_personas
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    with Office(routed_personas(3, ROUTED, vlan_prefix=24, seed=3), routed=ROUTED) as office:
        yield office


def test_every_device_of_a_routed_sparse_range_is_named_and_the_list_is_complete(
    routed_office,
):
    doc = routed_office.scan(targets=[ROUTED])
    assert routed_office.last_returncode == 0, routed_office.last_stderr
    assert_schema_valid(doc)
    found = {d["ip"]: d for d in doc["devices"]}
    for persona in routed_office.personas:
        device = found.get(persona.ip)
        assert device is not None, f"{persona.ip} not found"
        assert device["manufacturer"] == persona.truth["manufacturer"], persona.ip
    assert doc["scan"]["partial"] is False
    assert not [w for w in doc["scan"]["warnings"] if "budget" in w or "incomplete" in w]


def test_a_range_the_scanner_cannot_reach_is_partial_with_exit_status_3(routed_office):
    # No route from the scanner to 198.18.200.0/26: nothing can be sent there.
    doc = routed_office.scan(targets=["198.18.200.0/26"])
    assert routed_office.last_returncode == 3
    assert_schema_valid(doc)
    assert doc["scan"]["partial"] is True
    assert any("62 of 62 addresses not probed" in w for w in doc["scan"]["warnings"])
    lines = [
        ln
        for ln in routed_office.last_stderr.splitlines()
        if ln.startswith("camscan: incomplete scan:")
    ]
    assert len(lines) == 1
