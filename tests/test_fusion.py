"""Fusion: independent evidence combines, the strongest claim wins field by field, conflicts
stay visible, relabel brands resolve to their maker."""

import pytest

from camscan.fingerprint.engine import Engine
from camscan.fusion import fuse, group_by_host
from camscan.model import Evidence


@pytest.fixture(scope="module")
def engine():
    return Engine.load()


def ev(protocol, value, ip="198.18.0.20", mac=None, module="test", port=None):
    return Evidence(module=module, protocol=protocol, value=value, ip=ip, mac=mac, port=port)


def test_grouping_by_mac_then_ip():
    items = [
        ev("mac", "28:57:be:00:00:01", mac="28:57:be:00:00:01"),
        ev("http_server", "App-webs/", port=80),
        ev("http_server", "nginx", ip="198.18.0.30", port=80),
    ]
    hosts = group_by_host(items)
    assert sorted(h.key for h in hosts) == ["ip:198.18.0.30", "mac:28:57:be:00:00:01"]
    hik = next(h for h in hosts if h.mac)
    assert len(hik.items) == 2 and hik.ip == "198.18.0.20"


def test_agreeing_independent_evidence_is_stronger_than_any_alone(engine):
    alone = fuse([ev("http_server", "App-webs/", port=80)], engine)[0]
    both = fuse(
        [
            ev("http_server", "App-webs/", port=80),
            ev("mac", "28:57:be:00:00:01", mac="28:57:be:00:00:01"),
        ],
        engine,
    )[0]
    assert alone.manufacturer == both.manufacturer == "Hikvision"
    assert both.confidence > alone.confidence
    assert both.is_surveillance
    assert both.services[0].port == 80


def test_same_protocol_twice_does_not_count_twice(engine):
    once = fuse([ev("http_server", "App-webs/", port=80)], engine)[0]
    twice = fuse(
        [ev("http_server", "App-webs/", port=80), ev("http_server", "App-webs/", port=8080)], engine
    )[0]
    assert twice.confidence == pytest.approx(once.confidence)


def test_unmatched_host_is_listed_not_dropped(engine):
    devices = fuse([ev("open_port", "22/tcp")], engine)
    assert len(devices) == 1
    d = devices[0]
    assert d.manufacturer is None and not d.is_surveillance and d.device_type == "unknown"
    assert d.to_json()["evidence"][0]["rule"] is None
