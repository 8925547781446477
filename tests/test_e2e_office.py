"""End to end: the real scanner, in the lab's scanner namespace, over the default office.
The persona data is the ground truth: every device is found and named as it should be."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.lab

FIELDS = ("manufacturer", "brand", "model", "firmware", "device_type")


def by_ip(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["ip"]: d for d in doc["devices"]}


def personas():
    from camscan.lab.personas import load_personas

    return load_personas()


@pytest.mark.parametrize("persona", personas(), ids=lambda p: p.name)
def test_each_persona_is_found_and_named(office_scan, persona):
    devices = by_ip(office_scan)
    assert persona.ip in devices, f"{persona.name} ({persona.ip}) not found"
    device = devices[persona.ip]
    truth = persona.truth
    assert device["is_surveillance"] == truth["is_surveillance"], device["evidence"]
    for field in FIELDS:
        want = truth.get(field)
        if want is not None:
            assert device[field] == want, f"{field}: {device[field]!r} != {want!r}"
    if truth.get("manufacturer") is None and truth["is_surveillance"]:
        assert device["manufacturer"] is None  # listed, not guessed
    assert device["mac"] == persona.mac


def test_decoys_are_neither_surveillance_nor_restricted(office_scan):
    devices = by_ip(office_scan)
    decoys = [p for p in personas() if not p.truth["is_surveillance"]]
    assert len(decoys) >= 5
    for p in decoys:
        d = devices[p.ip]
        assert not d["is_surveillance"], p.name
        assert d["restricted_by"] == [], p.name


def test_no_extra_devices(office_scan):
    ips = {p.ip for p in personas()}
    assert set(by_ip(office_scan)) == ips


def test_scan_made_no_write_or_login_attempt(office, office_scan):
    attempts = [a for a in office.audit() if a.get("kind") != "onvif_authenticated_read"]
    assert attempts == []


def test_restricted_devices_follow_their_maker(office_scan):
    for d in office_scan["devices"]:
        if d["manufacturer"] in ("Hikvision", "Dahua"):
            assert "us-ndaa-889" in d["restricted_by"], d["ip"]
        if d["manufacturer"] == "Hikvision":
            assert "ca-2025" in d["restricted_by"]
        if d["manufacturer"] == "Dahua":
            assert "ca-2025" not in d["restricted_by"]


def test_hikvision_sdk_port_is_heard_not_spoken_to(office, office_scan):
    """Every Hikvision-made device greets on its SDK port 8000; camscan reads the greeting
    (the audit log would show any byte sent there: test_scan_made_no_write_or_login_attempt)."""
    devices = by_ip(office_scan)
    hik = [p for p in personas() if p.truth.get("manufacturer") == "Hikvision"]
    for persona in hik:
        if "8000" not in persona.block("tcp"):
            continue
        greeting = [e for e in devices[persona.ip]["evidence"] if e["protocol"] == "tcp_greeting"]
        assert [e["value"] for e in greeting] == ["8000:000000100000001e0000001e00000000"], (
            persona.name
        )


def test_every_device_shows_its_mac_registrant(office_scan):
    """mac_vendor is the IEEE registrant of the MAC, as nmap shows it, whether or not a rule
    names the maker from it; a locally administered MAC has none."""
    from camscan.fingerprint.engine import mac_registrant

    for device in office_scan["devices"]:
        mac = device["mac"]
        want = (mac_registrant(mac) or None) if mac else None
        assert device["mac_vendor"] == want, device["ip"]
    vendors = {d["mac_vendor"] for d in office_scan["devices"]}
    assert any(v and "Hikvision" in v for v in vendors)
    assert None in vendors  # the lab's locally administered (52:54:00) hosts
