"""Live capture: it only listens (a listen-only packet socket), and it hears real
traffic inside a pair of network namespaces this test creates and deletes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import scapy.sendrecv
from scapy.config import conf
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.l2 import Ether
from test_passive_packets import DHCP_VENDOR, HIK_IP, camera_traffic

from camscan.errors import CaptureError
from camscan.passive import PassiveStats
from camscan.passive.live import bpf_expression, live_evidence

SENDERS = ("send", "sendp", "sr", "sr1", "srp", "srp1", "sendpfast", "srloop", "srploop")


class _FakeListenSocket:
    """Stands in for scapy's L2ListenSocket: frames come through a real datagram socket pair
    (the test writes them to the other end, the kernel filter is attached to this end), and
    sending is refused."""

    LL = Ether

    def __init__(self, iface: str | None = None, **_: Any) -> None:
        self.iface = iface
        self.ins, self.peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        self.ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.closed = False
        self.ts = 1_700_000_000.0

    def recv_raw(self, x: int) -> tuple[type, bytes, float]:
        self.ts += 1
        return Ether, self.ins.recv(x), self.ts

    def send(self, *_: Any) -> None:
        raise AssertionError("the live path sent a packet")

    def close(self) -> None:
        self.closed = True
        self.ins.close()
        self.peer.close()


@pytest.fixture()
def no_sending(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    called: list[str] = []
    for name in SENDERS:

        def refuse(*_: Any, _name: str = name, **__: Any) -> None:
            called.append(_name)
            raise AssertionError(f"scapy {_name} called by the live path")

        monkeypatch.setattr(scapy.sendrecv, name, refuse)
    return called


def _fake_listen(monkeypatch: pytest.MonkeyPatch) -> list[_FakeListenSocket]:
    sockets: list[_FakeListenSocket] = []

    def fake_l2listen(**kw: Any) -> _FakeListenSocket:
        sockets.append(_FakeListenSocket(**kw))
        return sockets[-1]

    monkeypatch.setattr(conf, "L2listen", fake_l2listen)
    return sockets


def test_live_path_only_listens(monkeypatch: pytest.MonkeyPatch, no_sending: list[str]) -> None:
    sockets = _fake_listen(monkeypatch)
    frames = [bytes(pkt) for pkt in camera_traffic()]

    def started() -> None:
        for frame in frames:  # all queued before the loop reads: the drain must get them all
            sockets[0].peer.send(frame)

    stats = PassiveStats()
    evidence = live_evidence("eth9", 0.01, stats=stats, on_started=started)
    assert no_sending == []
    assert sockets[0].iface == "eth9" and sockets[0].closed
    assert not stats.interrupted
    # the kernel filter on the socket dropped what passive mode does not read
    assert 0 < stats.packets <= len(frames)
    sadp = [e for e in evidence if e.protocol == "sadp"]
    assert [(e.ip, e.source) for e in sadp] == [(HIK_IP, "eth9")]
    assert sadp[0].observed_at > 1_700_000_000
    assert {"dns_query", "x509_subject", "http_server", "dhcp_vendor_class"} <= {
        e.protocol for e in evidence
    }


def test_sigint_ends_a_capture_without_duration(
    monkeypatch: pytest.MonkeyPatch, no_sending: list[str]
) -> None:
    """No --duration: the capture runs until Ctrl-C, then reads what was already queued."""
    sockets = _fake_listen(monkeypatch)

    def started() -> None:
        for pkt in camera_traffic():
            sockets[0].peer.send(bytes(pkt))
        os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    stats = PassiveStats()
    evidence = live_evidence("eth9", None, stats=stats, on_started=started)
    assert stats.interrupted
    assert any(e.protocol == "sadp" and e.ip == HIK_IP for e in evidence)
    assert signal.getsignal(signal.SIGINT) is before  # put back


def test_capture_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(conf, "L2listen", refuse)
    with pytest.raises(CaptureError, match="^eth9: cannot capture: .*not permitted"):
        live_evidence("eth9", 1.0)


def test_pcap_expression_names_every_port() -> None:
    expr = bpf_expression()
    for needle in ("arp", "port 37020", "port 3702", "port 5353", "port 67", "port 554",
                   "port 8443", "tcp-syn", "ip[6:2] & 0x3fff", "ip6[6] == 44", "icmp6"):  # fmt: skip
        assert needle in expr


# -- a real interface, inside namespaces of our own ---------------------------------------


def _lab_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture()
def veth_pair() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by a veth pair (198.18.250.1 and .2/24, no route out).
    Nothing is created in, or sent through, the root namespace."""
    a, b = f"cspas-a-{os.getpid()}", f"cspas-b-{os.getpid()}"
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
        _ip("-n", a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b)
        _ip("-n", b, "link", "set", "veth-b", "address", "ac:cc:8e:00:00:42")
        _ip("-n", a, "addr", "add", "198.18.250.1/24", "dev", "veth-a")
        _ip("-n", b, "addr", "add", "198.18.250.2/24", "dev", "veth-b")
        for ns, dev in ((a, "veth-a"), (b, "veth-b")):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


SEND_DHCP = """
import socket, sys
data = bytes.fromhex(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("198.18.250.2", 68))
s.sendto(data, ("198.18.250.255", 67))
"""


@pytest.mark.lab
@pytest.mark.skipif(_lab_reason() is not None, reason=_lab_reason() or "")
def test_live_capture_in_namespaces(veth_pair: tuple[str, str], tmp_path: Path) -> None:
    a, b = veth_pair
    out = tmp_path / "live.json"
    camscan = [sys.executable, "-m", "camscan", "passive", "--interface", "veth-a",
               "--duration", "4", "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen(
        ["ip", "netns", "exec", a, *camscan],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = ""
        while "listening on veth-a" not in seen:
            line = proc.stderr.readline()
            assert line, seen + proc.stderr.read()
            seen += line
        request = BOOTP(chaddr=bytes.fromhex("accc8e000042"), xid=7) / DHCP(
            options=[
                ("message-type", "request"),
                ("requested_addr", "198.18.250.2"),
                ("vendor_class_id", DHCP_VENDOR),
                "end",
            ]  # fmt: skip
        )
        subprocess.run(["ip", "netns", "exec", b, sys.executable, "-c", SEND_DHCP,
                        bytes(request).hex()], check=True, timeout=20)  # fmt: skip
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    doc = json.loads(out.read_text())
    device = next(d for d in doc["devices"] if d["mac"] == "ac:cc:8e:00:00:42")
    assert device["ip"] == "198.18.250.2"
    assert device["manufacturer"] == "Axis"
    vendor = [e for e in device["evidence"] if e["protocol"] == "dhcp_vendor_class"]
    assert vendor and vendor[0]["value"] == DHCP_VENDOR.decode() and vendor[0]["packet"] >= 1
