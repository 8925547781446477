"""Host pipelines in worker processes (`--workers N`): the same office scanned with two
workers and without gives the same devices, named the same way from the same evidence; a
worker that dies takes no host silently with it (counted, warned, exit status 3); a bad --workers fails before any packet."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Iterator
from ipaddress import IPv4Network
from typing import Any

import pytest

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.scan import ScanEngine
from tests.conftest import assert_schema_valid


def _devices(doc: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        d["ip"]: (d["mac"], d["manufacturer"], d["brand"], d["model"], d["device_type"])
        for d in doc["devices"]
    }


def _evidence(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    # what was learnt from whom (values carry nonces and clocks that differ between runs)
    return {
        (d["ip"], e["module"], e["protocol"]) for d in doc["devices"] for e in d.get("evidence", [])
    }


@pytest.fixture(scope="module")
def office() -> Iterator[Any]:
    from camscan.lab.office import Office
    from camscan.lab.personas.generate import generate_office
    from camscan.lab.testing import lab_skip_reason

    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    with Office(generate_office(24, "198.18.0.0/24", seed=5), subnet="198.18.0.0/24") as lab:
        yield lab


@pytest.mark.lab
def test_two_workers_find_and_name_what_one_process_does(office):
    alone = office.scan(["--workers", "0"])
    assert office.last_returncode == 0, office.last_stderr
    shared = office.scan(["--workers", "2"])
    assert office.last_returncode == 0, office.last_stderr
    assert_schema_valid(shared)
    assert _devices(shared) == _devices(alone)
    assert len(_devices(shared)) == 24
    # the host modules' evidence came back from the workers (ports, http, rtsp, onvif ...)
    assert {m for _, m, _ in _evidence(shared)} >= {"ports", "http", "rtsp", "onvif"}
    assert _evidence(shared) == _evidence(alone)
    assert shared["scan"]["partial"] is False


@pytest.mark.lab
def test_a_bad_workers_value_fails_before_the_scan(office):
    from camscan.errors import LabError

    with pytest.raises(LabError):
        office.scan(["--workers", "-1"])
    assert office.last_returncode == 2
    assert "--workers" in office.last_stderr


class _Workers:
    """A pool of one stand-in worker: `behave(conn)` runs in a forked process."""

    count = 1

    def __init__(self, behave: Any) -> None:
        fork = multiprocessing.get_context("fork")
        ours, theirs = fork.Pipe(duplex=True)
        self.proc = fork.Process(target=behave, args=(theirs,), daemon=True)
        self.proc.start()
        theirs.close()
        self.conns = [ours]


def _dead(conn: Any) -> None:
    conn.close()  # gone before the scan starts


def _takes_two_hosts_and_dies(conn: Any) -> None:
    hosts = 0
    while hosts < 2:
        hosts += conn.recv()[0] == "host"
    os._exit(1)


def _run(workers: _Workers) -> tuple[ScanEngine, ScanContext, list[str]]:
    ctx = ScanContext(
        targets=[IPv4Network("127.0.0.0/30")],
        interface=None,
        local_ip=None,
        settings=ScanSettings(listen_window=0.1),
    )
    here: list[str] = []

    async def sweep_here(_ctx: object, ip: str, **_kw: object) -> set[int]:
        here.append(ip)
        return set()

    engine = ScanEngine(ctx, [], [], sweep=["127.0.0.1", "127.0.0.2"], scan_ports=sweep_here)
    engine.use_workers(workers)  # type: ignore[arg-type]
    asyncio.run(asyncio.wait_for(engine.run(), timeout=60))
    workers.proc.join(timeout=10)
    return engine, ctx, here


def test_with_no_worker_left_hosts_run_in_the_scans_own_process() -> None:
    workers = _Workers(_dead)
    workers.proc.join(timeout=30)  # gone before the scan starts, not while it does
    engine, ctx, here = _run(workers)
    assert sorted(here) == ["127.0.0.1", "127.0.0.2"]
    assert ctx.warnings == ["scan: worker process 1 ended early; 0 host(s) not probed"]
    assert not engine.coverage.incomplete


def test_hosts_of_a_worker_that_died_with_them_are_counted_not_lost() -> None:
    engine, ctx, here = _run(_Workers(_takes_two_hosts_and_dies))
    assert here == []
    assert engine.coverage.uncovered == 2 and engine.coverage.incomplete
    assert ctx.warnings == ["scan: worker process 1 ended early; 2 host(s) not probed"]
