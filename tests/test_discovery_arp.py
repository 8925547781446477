"""arp module: the pure reply -> evidence conversion, the two-pass logic, and real sweeps
inside two network namespaces this test creates (198.18.77.0/24, a veth pair, no route out),
with and without CAP_NET_RAW. Nothing is ever sent on a real interface."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from ipaddress import IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camscan.discovery import arp
from camscan.discovery.arp import ArpModule, arp_evidence, arp_targets, normalize_mac
from camscan.discovery.base import ScanContext, ScanSettings
from camscan.errors import ParseError


def make_ctx(net: str = "198.18.77.0/29", **kw: object) -> ScanContext:
    return ScanContext(
        targets=[IPv4Network(net)],
        interface="veth-test",
        local_ip="198.18.77.1",
        settings=ScanSettings(listen_window=0.5),
        **kw,
    )


@pytest.mark.parametrize(
    "text", ["28:57:BE:00:00:02", "28-57-be-00-00-02", "2857.be00.0002", "2857BE000002"]
)
def test_normalize_mac_forms(text):
    assert normalize_mac(text) == "28:57:be:00:00:02"


@pytest.mark.parametrize(
    "text", ["", "28:57:be:00:00", "zz:57:be:00:00:02", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
             "01:00:5e:00:00:01", "28:57:be:00:00:02:03"],
)  # fmt: skip
def test_normalize_mac_rejects(text):
    with pytest.raises(ParseError):
        normalize_mac(text)


def test_arp_evidence():
    ev = arp_evidence("198.18.0.21", "BC:AD:28:00:00:21", observed_at=3.0, packet=9)
    assert (ev.module, ev.protocol, ev.value, ev.ip, ev.mac) == (
        "arp", "mac", "bc:ad:28:00:00:21", "198.18.0.21", "bc:ad:28:00:00:21")  # fmt: skip
    assert (ev.observed_at, ev.packet) == (3.0, 9)
    for ip in ("not-an-ip", "0.0.0.0", "224.0.0.1", "127.0.0.1"):
        with pytest.raises(ParseError):
            arp_evidence(ip, "bc:ad:28:00:00:21")


def test_targets_are_in_scope_and_exclude_ourselves():
    ctx = make_ctx(in_scope=lambda ip: ip != "198.18.77.4")
    assert arp_targets(ctx) == (["198.18.77.2", "198.18.77.3", "198.18.77.5", "198.18.77.6"], False)
    assert arp_targets(ctx, limit=2) == (["198.18.77.2", "198.18.77.3"], True)


def test_request_frame_and_reply_parser_round_trip():
    frame = arp.build_request(bytes.fromhex("020000000001"), "198.18.77.1", "198.18.77.2")
    assert frame[:6] == b"\xff" * 6 and frame[12:14] == b"\x08\x06"
    assert arp.parse_reply(frame) is None  # a request, not a reply
    reply = bytearray(frame)
    reply[21] = 2  # op = reply
    reply[22:28] = bytes.fromhex("2857be000002")
    reply[28:32] = bytes([198, 18, 77, 2])
    assert arp.parse_reply(bytes(reply)) == ("198.18.77.2", "28:57:be:00:00:02")


@given(st.binary(max_size=128))
def test_reply_parser_never_raises(data):
    result = arp.parse_reply(data)
    assert result is None or isinstance(result[0], str)


async def test_permission_denied_is_a_warning(monkeypatch):
    def denied(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(arp, "_Sweep", denied)
    ctx = make_ctx()
    await ArpModule().run(ctx)
    assert ctx.evidence == []
    assert ctx.warnings == ["arp: skipped: raw sockets need root or CAP_NET_RAW"]


async def test_no_interface_no_sweep(monkeypatch):
    monkeypatch.setattr(arp, "_Sweep", lambda *a: pytest.fail("swept without an interface"))
    ctx = ScanContext(targets=[IPv4Network("198.18.77.0/29")], interface=None, local_ip=None)
    await ArpModule().run(ctx)
    assert ctx.warnings == ["arp: skipped: no scan interface"]


# -- real sweeps in namespaces of our own ----------------------------------------------------

RUNNER = textwrap.dedent(
    """
    import asyncio, json, sys
    from ipaddress import IPv4Network
    from camscan.discovery.arp import ArpModule
    from camscan.discovery.base import ScanContext, ScanSettings
    net = IPv4Network(sys.argv[1] if len(sys.argv) > 1 else "198.18.77.0/29")
    ctx = ScanContext(targets=[net], interface="veth-a", local_ip="198.18.77.1",
                      settings=ScanSettings(listen_window=0.5))
    asyncio.run(ArpModule().run(ctx))
    print(json.dumps({"evidence": sorted([e.ip, e.value, e.mac] for e in ctx.evidence),
                      "warnings": ctx.warnings}))
    """
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def veth_pair() -> Iterator[tuple[str, str]]:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to build a namespace pair")
    a, b = f"camscan-arp-a-{os.getpid()}", f"camscan-arp-b-{os.getpid()}"
    try:
        try:
            _ip("netns", "add", a)
            _ip("netns", "add", b)
            # The pair is born inside the namespaces: the root namespace never sees it.
            _ip("-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
                "netns", b)  # fmt: skip
            _ip("-n", a, "addr", "add", "198.18.77.1/24", "dev", "veth-a")
            _ip("-n", a, "link", "set", "veth-a", "up")
            _ip("-n", b, "link", "set", "veth-b", "address", "28:57:be:00:00:02")
            _ip("-n", b, "addr", "add", "198.18.77.2/24", "dev", "veth-b")
            _ip("-n", b, "addr", "add", "198.18.77.3/24", "dev", "veth-b")
            _ip("-n", b, "link", "set", "veth-b", "up")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"cannot build namespaces here: {exc}")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def _run_in(ns: str, *prefix: str, net: str = "198.18.77.0/29") -> dict:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, *prefix, sys.executable, "-c", RUNNER, net],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.lab
@pytest.mark.timeout(120)
def test_real_sweep_in_a_namespace_pair(veth_pair):
    a, _ = veth_pair
    out = _run_in(a)
    assert out["evidence"] == [
        ["198.18.77.2", "28:57:be:00:00:02", "28:57:be:00:00:02"],
        ["198.18.77.3", "28:57:be:00:00:02", "28:57:be:00:00:02"],
    ]
    assert out["warnings"] == []


@pytest.mark.lab
@pytest.mark.timeout(120)
def test_real_sweep_without_cap_net_raw_is_skipped_with_a_warning(veth_pair):
    a, _ = veth_pair
    drop = ("setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv not installed")
    out = _run_in(a, *drop)
    assert out == {
        "evidence": [],
        "warnings": ["arp: skipped: raw sockets need root or CAP_NET_RAW"],
    }


# A swamped segment: a responder in the far namespace answers who-has for 198.18.77.64/26 (not
# the kernel's addresses there) one at a time, at most RATE a second, as a segment does whose
# devices each get every broadcast of a big sweep. The answers trickle in long after the listen
# window; every one of them must still find its host.
SLOW_RESPONDER = textwrap.dedent(
    """
    import socket, struct, sys, time
    from ipaddress import IPv4Address, IPv4Network
    rate, net = float(sys.argv[1]), IPv4Network("198.18.77.64/26")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind(("veth-b", 0))
    print("ready", flush=True)
    pending = {}
    while True:
        s.settimeout(None if not pending else 1 / rate)
        try:
            f = s.recv(2048)
            if f[20:22] == b"\\x00\\x01" and IPv4Address(f[38:42]) in net:
                pending.setdefault(f[38:42], f[6:12] + f[28:32])
            continue
        except TimeoutError:
            pass
        tpa, who = next(iter(pending.items()))  # who: the asker's MAC and address
        del pending[tpa]
        mac = bytes([0x28, 0x57, 0xBE, 0, 1, tpa[3]])
        s.send(who[:6] + mac + b"\\x08\\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2)
               + mac + tpa + who[:6] + who[6:])
    """
)


@pytest.mark.lab
@pytest.mark.timeout(120)
def test_replies_that_trickle_in_from_a_swamped_segment_all_find_their_hosts(veth_pair):
    a, b = veth_pair
    responder = subprocess.Popen(
        ["ip", "netns", "exec", b, sys.executable, "-c", SLOW_RESPONDER, "25"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert responder.stdout is not None and responder.stdout.readline().strip() == "ready"
        out = _run_in(a, net="198.18.77.64/27")  # 32 addresses: about 1.3 s of answers
    finally:
        responder.kill()
        responder.wait(timeout=10)
    found = {ip for ip, _, _ in out["evidence"]}
    # listen_window is 0.5 s: before, the module stopped listening after it and found 10 of 30
    assert found == {f"198.18.77.{i}" for i in range(65, 95)}
