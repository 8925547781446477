"""Live capture: it only listens (scapy's sniff on a listen-only socket), and it hears real
traffic inside a pair of network namespaces this test creates and deletes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
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
    """Stands in for scapy's L2ListenSocket: records what was done to it, sends nothing."""

    LL = Ether

    def __init__(self, iface: str | None = None, **_: Any) -> None:
        self.iface = iface
        self.ins = self
        self.filters: list[bytes] = []
        self.closed = False

    def setsockopt(self, level: int, opt: int, value: bytes) -> None:
        self.filters.append(value)

    def send(self, *_: Any) -> None:
        raise AssertionError("the live path sent a packet")

    def close(self) -> None:
        self.closed = True


@pytest.fixture()
def no_sending(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    called: list[str] = []
    for name in SENDERS:

        def refuse(*_: Any, _name: str = name, **__: Any) -> None:
            called.append(_name)
            raise AssertionError(f"scapy {_name} called by the live path")

        monkeypatch.setattr(scapy.sendrecv, name, refuse)
    return called


def test_live_path_only_sniffs(monkeypatch: pytest.MonkeyPatch, no_sending: list[str]) -> None:
    sockets: list[_FakeListenSocket] = []
    sniffed: dict[str, Any] = {}

    def fake_l2listen(**kw: Any) -> _FakeListenSocket:
        sockets.append(_FakeListenSocket(**kw))
        return sockets[-1]

    def fake_sniff(*, opened_socket: Any, prn: Callable[[Any], None], store: bool, timeout: float,
                   started_callback: Callable[[], None] | None, **kw: Any) -> None:  # fmt: skip
        sniffed.update(store=store, timeout=timeout, socket=opened_socket, extra=kw)
        if started_callback:
            started_callback()
        for i, pkt in enumerate(camera_traffic()):
            received = Ether(bytes(pkt))
            received.time = 1_700_000_000 + i
            prn(received)

    monkeypatch.setattr(conf, "L2listen", fake_l2listen)
    monkeypatch.setattr(scapy.sendrecv, "sniff", fake_sniff)
    started: list[bool] = []
    stats = PassiveStats()
    evidence = live_evidence("eth9", 2.5, stats=stats, on_started=lambda: started.append(True))
    assert no_sending == []
    assert started == [True]
    assert sniffed["store"] is False and sniffed["timeout"] == 2.5 and sniffed["extra"] == {}
    assert sniffed["socket"] is sockets[0] and sockets[0].iface == "eth9" and sockets[0].closed
    assert len(sockets[0].filters) == 1  # the kernel filter was attached
    assert stats.packets == 18
    sadp = [e for e in evidence if e.protocol == "sadp"]
    assert [(e.ip, e.packet, e.source, e.observed_at) for e in sadp] == [
        (HIK_IP, 3, "eth9", 1_700_000_002)
    ]
    assert {"dns_query", "x509_subject", "http_server", "dhcp_vendor_class"} <= {
        e.protocol for e in evidence
    }


def test_capture_failure_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(conf, "L2listen", refuse)
    with pytest.raises(CaptureError, match="^eth9: cannot capture: .*not permitted"):
        live_evidence("eth9", 1.0)


def test_pcap_expression_names_every_port() -> None:
    expr = bpf_expression()
    for needle in ("arp", "port 37020", "port 3702", "port 5353", "port 67", "port 554",
                   "port 8443", "tcp-syn"):  # fmt: skip
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
