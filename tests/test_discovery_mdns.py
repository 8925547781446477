"""mDNS: the pure evidence helper, and the module against a zeroconf responder.

The module test runs in a child process that first moves itself into a fresh, anonymous
network namespace holding nothing but `lo` (it checks that before sending anything), so the
multicast queries cannot reach any real network; the namespace disappears with the process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext
from camscan.discovery.mdns import MdnsModule, mdns_evidence, txt_lines


def test_evidence_for_an_axis_camera() -> None:
    name = "AXIS M3045-V - ACCC8E123456._axis-video._tcp.local."
    evs = mdns_evidence(
        name,
        ["198.18.0.24", "198.18.0.24"],
        {b"macaddress": b"ACCC8E123456", b"flag": None},
        "axis-accc8e123456.local.",
        observed_at=2.0,
        packet=9,
    )
    assert [(e.protocol, e.value) for e in evs] == [
        ("mdns_service", name),
        ("mdns_txt", "macaddress=ACCC8E123456\nflag="),
    ]
    for e in evs:
        assert (e.ip, e.port, e.transport, e.module) == ("198.18.0.24", 5353, "udp", "mdns")
        assert (e.source, e.observed_at, e.packet) == ("axis-accc8e123456.local.", 2.0, 9)


def test_evidence_without_txt_or_addresses() -> None:
    assert [e.protocol for e in mdns_evidence("x._http._tcp.local.", ["10.0.0.1"], {}, None)] == [
        "mdns_service"
    ]
    assert mdns_evidence("x._http._tcp.local.", [], {b"a": b"b"}, None) == []


def test_txt_with_hostile_bytes() -> None:
    txt = {b"\xff\xfe": b"\x00\xffline\nbreak", b"": b"ignored", b"k" * 500: b"v" * 5000}
    lines = txt_lines(txt).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("\ufffd\ufffd=") and "\n" not in lines[0]
    assert len(lines[1]) < 600


@given(
    st.text(max_size=80),
    st.lists(st.text(max_size=20), max_size=3),
    st.dictionaries(st.binary(max_size=40), st.none() | st.binary(max_size=300), max_size=80),
    st.none() | st.text(max_size=40),
)
@settings(max_examples=200, deadline=None)
def test_any_record_content(
    name: str, addresses: list[str], txt: dict[bytes, bytes | None], server: str | None
) -> None:
    for ev in mdns_evidence(name, addresses, txt, server):
        assert ev.protocol in ("mdns_service", "mdns_txt")
        if ev.protocol == "mdns_txt":  # one line per key, whatever the keys hold
            assert len(ev.value.splitlines()) == len([k for k in list(txt)[:64] if k])


async def test_no_scan_address_means_no_query() -> None:
    ctx = ScanContext(targets=[IPv4Network("127.0.0.0/8")], interface=None, local_ip=None)
    await MdnsModule().run(ctx)
    assert ctx.evidence == [] and ctx.warnings == ["mdns: no scan address known; mDNS skipped"]


async def test_no_target_on_the_segment_means_no_query() -> None:
    ctx = ScanContext(
        targets=[IPv4Network("10.2.0.0/24")], interface=None, local_ip="127.0.0.1", segments=[]
    )
    await MdnsModule().run(ctx)
    assert ctx.evidence == [] and ctx.warnings == [
        "mdns: no target on the scan segment: multicast inquiry not sent"
    ]


# The start of every child script that runs mDNS for real: a network namespace of its own
# with only loopback in it (multicast routed there), or a "skip" line and nothing sent.
ISOLATED_LOOPBACK = r"""
import asyncio, ctypes, json, socket, struct, subprocess, sys

CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(CLONE_NEWNET) != 0 and libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
    print(json.dumps({"skip": "cannot create a network namespace"}))
    sys.exit(0)
links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
names = [line.split(":")[1].strip() for line in links.splitlines()]
if names != ["lo"]:  # never send anything unless we are alone with loopback
    print(json.dumps({"skip": f"unexpected interfaces {names}"}))
    sys.exit(0)
for cmd in ("ip link set lo up", "ip link set lo multicast on", "ip route add 224.0.0.0/4 dev lo"):
    subprocess.run(cmd.split(), check=True)
"""

CHILD = (
    ISOLATED_LOOPBACK
    + r"""
from ipaddress import IPv4Network
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.mdns import MdnsModule

SERVICES = [
    ("_axis-video._tcp.local.", "AXIS M3106-L Mk II - ACCC8E000001", 80,
     {"macaddress": "ACCC8E000001"}, "axis-accc8e000001.local."),
    ("_ipp._tcp.local.", "Office Printer", 631, {"ty": "HP LaserJet", "flag": None},
     "printer.local."),
    ("_vendor-cam._tcp.local.", "Cam 3", 81, {}, "cam3.local."),  # found via _services._dns-sd
]

async def main():
    responder = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    for type_, inst, port, txt, server in SERVICES:
        await responder.async_register_service(AsyncServiceInfo(
            type_, f"{inst}.{type_}", addresses=[socket.inet_aton("127.0.0.1")], port=port,
            properties=txt, server=server))
    ctx = ScanContext(targets=[IPv4Network("127.0.0.0/8")], interface=None,
                      local_ip="127.0.0.1", settings=ScanSettings(listen_window=1.5))
    await MdnsModule().run(ctx)
    await responder.async_close()
    print(json.dumps({"evidence": [[e.protocol, e.value, e.ip, e.source] for e in ctx.evidence],
                      "warnings": ctx.warnings}))

asyncio.run(main())
"""
)


@pytest.mark.lab
@pytest.mark.timeout(60)
def test_module_browses_and_resolves_in_an_isolated_namespace() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=50, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    found = {(p, v, ip, src) for p, v, ip, src in out["evidence"]}
    assert (
        "mdns_service",
        "AXIS M3106-L Mk II - ACCC8E000001._axis-video._tcp.local.",
        "127.0.0.1",
        "axis-accc8e000001.local.",
    ) in found
    assert (
        "mdns_txt",
        "macaddress=ACCC8E000001",
        "127.0.0.1",
        "axis-accc8e000001.local.",
    ) in found
    assert ("mdns_txt", "ty=HP LaserJet\nflag=", "127.0.0.1", "printer.local.") in found
    assert ("mdns_service", "Cam 3._vendor-cam._tcp.local.", "127.0.0.1", "cam3.local.") in found
    # each instance reported once
    services = [v for p, v, _, _ in out["evidence"] if p == "mdns_service"]
    assert len(services) == len(set(services)) == 3
    assert out["warnings"] == []
