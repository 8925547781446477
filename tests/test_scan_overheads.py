"""What keeps a big scan's bookkeeping cheap without changing its results: the garbage
collector set for the scan and put back after it, and the scope check remembered per address."""

from __future__ import annotations

import gc
from ipaddress import IPv4Network

from camscan.active import GC_THRESHOLD, fewer_collections
from camscan.discovery.base import ScanContext


def test_collector_is_set_for_the_scan_and_put_back():
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    kept = [object() for _ in range(10)]  # alive before the scan: frozen during it
    with fewer_collections():
        assert gc.get_threshold() == (GC_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen
        assert gc.isenabled()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert kept


def test_collector_is_put_back_when_the_scan_is_interrupted():
    before = gc.get_threshold()
    try:
        with fewer_collections():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_scope_is_asked_once_per_address():
    asked: list[str] = []

    def allows(ip: str) -> bool:
        asked.append(ip)
        return ip.startswith("198.18.")

    ctx = ScanContext(
        targets=[IPv4Network("198.18.0.0/24")], interface=None, local_ip=None, in_scope=allows
    )
    answers = [ctx.in_scope(ip) for ip in ["198.18.0.5", "10.0.0.1", "198.18.0.5", "10.0.0.1"]]
    assert answers == [True, False, True, False]
    assert asked == ["198.18.0.5", "10.0.0.1"]
