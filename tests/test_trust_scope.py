"""Issue 13, item 3: multicast and broadcast inquiries go out only on segments whose subnet the
targets include, and answers from hosts outside the targets are dropped and reported.

Before the fix, `camscan scan <one off-link address>` sent every module's multicast and
broadcast inquiry (about 14 datagrams, plus IGMP joins) on the scanner's own segment, where
every device, excluded ones included, heard them; answers from excluded hosts were dropped
without a word. Here: the pure segment logic, the UDP plumbing with a recording socket (nothing
leaves this machine, no multicast from this namespace), the scan's preparation, and in the lab
a listener on the scanner's segment during an off-link scan and during a scan that excludes it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from camscan.discovery import udp
from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.segments import (
    directed_broadcasts,
    holds_target,
    inquiry_segments,
    may_send,
    outside_answers_warning,
)
from camscan.discovery.udp import Listener, send_and_collect

N = IPv4Network

# -- which segments may hear an inquiry (pure) -----------------------------------------------


@pytest.mark.parametrize(
    ("targets", "excludes", "expected"),
    [
        (["10.1.0.0/24"], [], True),  # the segment itself
        (["10.1.0.77/32"], [], True),  # one address on it
        (["10.0.0.0/8"], [], True),  # a target wider than the segment
        (["10.1.0.250/31", "10.9.0.0/24"], [], True),  # a range's part on it
        (["10.2.0.0/24"], [], False),  # off-link only
        (["10.1.0.0/24"], ["10.1.0.0/24"], False),  # all of it excluded
        (["10.1.0.0/28"], ["10.1.0.0/29", "10.1.0.8/29"], False),  # excluded piece by piece
        (["10.1.0.1/32"], [], False),  # only the scanner itself
        (["10.1.0.0/32", "10.1.0.255/32"], [], False),  # network and broadcast: no host
        (["10.1.0.0/30"], ["10.1.0.2/31"], False),  # .0 no host, .1 us, .2-.3 excluded
    ],
)
def test_a_segment_hears_inquiries_only_when_it_holds_a_target(
    targets: list[str], excludes: list[str], expected: bool
) -> None:
    segment = N("10.1.0.0/24")
    got = holds_target(segment, [N(t) for t in targets], [N(e) for e in excludes], "10.1.0.1")
    assert got is expected
    assert inquiry_segments([segment], [N(t) for t in targets], [N(e) for e in excludes],
                            "10.1.0.1") == ([segment] if expected else [])  # fmt: skip


def test_only_segments_that_hold_a_target_of_several_attached() -> None:
    attached = [N("10.1.0.0/24"), N("192.168.7.0/24"), N("172.16.0.0/16")]
    assert inquiry_segments(attached, [N("192.168.7.20/32"), N("10.3.0.0/16")]) == [attached[1]]


def test_datagrams_a_segment_without_targets_may_not_carry() -> None:
    attached = [N("10.1.0.0/24")]
    for host in ("239.255.255.250", "224.0.0.251", "255.255.255.255", "10.1.0.255"):
        assert not may_send(host, [], attached), host
        assert may_send(host, attached, attached), host
    assert may_send("10.2.0.9", [], attached)  # unicast: the scope guard's business
    assert directed_broadcasts([], "10.1.0.1") == []
    assert directed_broadcasts(attached, "10.1.0.1") == ["10.1.0.255"]


def test_the_warning_names_who_answered_from_outside() -> None:
    assert outside_answers_warning([]) is None
    text = outside_answers_warning(["10.1.0.12", "10.1.0.9", "10.1.0.12"], ["ssdp", "wsd"])
    assert text == (
        "2 hosts outside the targets (excluded or not targeted) answered the multicast or "
        "broadcast inquiry (ssdp, wsd); their answers were dropped: 10.1.0.9, 10.1.0.12"
    )
    many = outside_answers_warning([f"10.1.0.{i}" for i in range(20)])
    assert many is not None and many.endswith("10.1.0.7 and 12 more")


# -- the UDP plumbing -------------------------------------------------------------------------


class Recording(socket.socket):
    """A real UDP socket on 127.0.0.1 that records what would be sent and sends nothing."""

    sent: list[tuple[bytes, Any]]

    def sendto(self, data: Any, *args: Any) -> int:  # type: ignore[override]
        self.sent.append((bytes(data), args[-1]))
        return len(data)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, Any]]:
    """Every socket send_and_collect opens records instead of sending; the group listeners it
    asks for are noted (and not joined)."""
    sent: list[tuple[bytes, Any]] = []
    joined: list[str | None] = []

    def fake_open(ctx: ScanContext, *, port: int = 0, group: str | None = None, **_: Any):
        joined.append(group)
        sock = Recording(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sent = sent
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        return sock

    monkeypatch.setattr(udp, "open_socket", fake_open)
    sent.append((b"", ("joined", joined)))  # the first entry carries the joins
    return sent


def _off_link_ctx() -> ScanContext:
    # targets 10.2.0.0/24, the scan interface on 10.1.0.0/24: nothing on-link
    return ScanContext(
        targets=[N("10.2.0.0/24")],
        interface=None,
        local_ip="10.1.0.1",
        attached=[N("10.1.0.0/24")],
        settings=ScanSettings(listen_window=0.0),
    )


def test_off_link_targets_send_nothing_segment_wide(recording: list) -> None:
    ctx = _off_link_ctx()
    assert ctx.segments == []
    payloads = [
        (b"probe", ("239.255.255.250", 3702)),
        (b"search", ("255.255.255.255", 5050)),
        (b"legacy", ("10.1.0.255", 5050)),
        (b"unicast", ("10.2.0.9", 3702)),
    ]
    listeners = [Listener(3702, "239.255.255.250"), Listener(5050)]
    asyncio.run(send_and_collect(ctx, payloads, 0.0, 8, module="wsd", listeners=listeners))
    (_, (_, joined)), *sent = recording
    assert sent == [(b"unicast", ("10.2.0.9", 3702))]
    assert "239.255.255.250" not in joined  # no group joined: no IGMP report either
    assert ctx.warnings == [
        "wsd: no target on the scan segment: multicast and broadcast inquiry not sent"
    ]


def test_only_segment_wide_payloads_send_no_socket_at_all(recording: list) -> None:
    ctx = _off_link_ctx()
    out = asyncio.run(
        send_and_collect(ctx, [(b"probe", ("239.255.255.250", 1900))], 0.0, 8, module="ssdp")
    )
    (_, (_, joined)), *sent = recording
    assert (out, sent, joined) == ([], [], [])


def test_on_link_targets_still_get_the_inquiry(recording: list) -> None:
    ctx = ScanContext(
        targets=[N("10.1.0.20/32")],
        interface=None,
        local_ip="10.1.0.1",
        attached=[N("10.1.0.0/24")],
        settings=ScanSettings(listen_window=0.0),
    )
    payloads = [(b"probe", ("239.255.255.250", 3702)), (b"legacy", ("10.1.0.255", 5050))]
    asyncio.run(send_and_collect(ctx, payloads, 0.0, 8, module="wsd"))
    _, *sent = recording
    assert sent == payloads
    assert ctx.warnings == []


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"answer", addr)  # type: ignore[attr-defined]


async def _answers_from(ips: list[str], ctx: ScanContext) -> list[str]:
    loop = asyncio.get_running_loop()
    transports, dests = [], []
    for ip in ips:
        t, _ = await loop.create_datagram_endpoint(Echo, local_addr=(ip, 0))
        transports.append(t)
        dests.append((b"ask", t.get_extra_info("sockname")))
    got: list[str] = []
    try:
        await send_and_collect(
            ctx, dests, 2.0, 16, module="sadp", stop_after=len(ips),
            on_datagram=lambda d: got.append(d.addr[0]),
        )  # fmt: skip
    finally:
        for t in transports:
            t.close()
    return got


def test_answers_from_outside_the_targets_are_dropped_and_reported() -> None:
    # 127.0.0.5 is a target, 127.0.0.6 is excluded, 127.0.0.7 is not a target: all three
    # answer (as hosts on the segment answer a multicast inquiry); only the target counts.
    ctx = ScanContext(
        targets=[N("127.0.0.4/30")],
        interface=None,
        local_ip="127.0.0.1",
        in_scope=lambda ip: ip == "127.0.0.5",
    )
    got = asyncio.run(_answers_from(["127.0.0.5", "127.0.0.6", "127.0.0.7"], ctx))
    assert got == ["127.0.0.5"]
    assert ctx.outside == {"sadp": {"127.0.0.6", "127.0.0.7"}}
    ctx.outside_warning()
    assert ctx.warnings == [
        "scan: 2 hosts outside the targets (excluded or not targeted) answered the multicast "
        "or broadcast inquiry (sadp); their answers were dropped: 127.0.0.6, 127.0.0.7"
    ]


# -- the scan's preparation ----------------------------------------------------------------


@pytest.fixture
def lab_attachment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan interface is a made-up 198.18.5.1/24 (nothing here opens a socket)."""
    from camscan import active
    from camscan.scope import Attachment

    att = Attachment("lab0", "198.18.5.1", N("198.18.5.0/24"))
    monkeypatch.setattr(active, "choose_interface", lambda _i, _t: att)


@pytest.mark.parametrize(
    ("targets", "excludes", "runs"),
    [
        (["198.19.0.5"], [], False),
        (["198.19.0.0/24", "198.18.6.0/24"], [], False),
        (["198.18.5.0/28"], ["198.18.5.0/28"], False),
        (["198.18.5.1"], [], False),  # the scanner itself
        (["198.18.5.30"], [], True),
        (["198.19.0.0/24", "198.18.5.0-198.18.5.3"], ["198.18.5.2"], True),
    ],
)
def test_broadcast_modules_run_only_when_a_target_is_on_the_segment(
    lab_attachment: None, targets: list[str], excludes: list[str], runs: bool
) -> None:
    from camscan.active import ScanOptions, prepare

    prepared = prepare(ScanOptions(targets=targets, excludes=excludes))
    names = [m.name for m in prepared.scan.broadcast if m.name != "arp"]
    if runs:
        assert names == ["wsd", "mdns", "ssdp", "sadp", "dahua", "hanwha", "bosch", "ubiquiti"]
        assert prepared.ctx.segments == [N("198.18.5.0/24")]
    else:
        assert names == []
        assert prepared.ctx.segments == []
        assert prepared.ctx.warnings[0].startswith(
            "scan: no target on the scan interface's subnet (198.18.5.0/24): no multicast or "
            "broadcast inquiry sent (arp, wsd, mdns, ssdp, sadp, dahua, hanwha, bosch, ubiquiti)"
        )


# -- in the lab: a listener on the scanner's segment ------------------------------------------

# Runs in the devices namespace on the listener's macvlan. Records every IPv4 frame the
# scanner sends to a group or broadcast MAC (what every device on the segment hears), answers
# any WS-Discovery datagram it gets with a datagram of its own (as a device answers a Probe),
# and on the test's end-of-round marker (a broadcast "MARK <n>" the test sends after the scan:
# the macvlan broadcast queue is in order, so everything before it has arrived) prints the
# round's frames.
LISTENER = textwrap.dedent(
    """
    import json, selectors, socket, struct, sys
    ifname, ip, scanner_mac = json.loads(sys.argv[1])
    index = socket.if_nametoindex(ifname)
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    cap.bind((ifname, 0))
    wsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wsd.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    wsd.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    wsd.setsockopt(socket.IPPROTO_IP, 49, 0)  # IP_MULTICAST_ALL off
    wsd.bind(("239.255.255.250", 3702))
    mreqn = struct.pack("4s4si", socket.inet_aton("239.255.255.250"), bytes(4), index)
    wsd.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((ip, 0))
    sel = selectors.DefaultSelector()
    sel.register(cap, selectors.EVENT_READ, "cap")
    sel.register(wsd, selectors.EVENT_READ, "wsd")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    mine = bytes.fromhex(scanner_mac.replace(":", ""))
    heard, answered = [], 0
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(timeout=120) or sys.exit("listener: timed out"):
            if key.data == "stdin":
                if not sys.stdin.readline():
                    sys.exit(0)
            elif key.data == "wsd":
                data, src = wsd.recvfrom(4096)
                tx.sendto(b"<answer from a host that heard the probe/>", src)
                answered += 1
            else:
                frame = cap.recv(65535)
                if frame[6:12] != mine or not frame[0] & 1 or frame[12:14] != b"\\x08\\x00":
                    continue
                ihl = (frame[14] & 15) * 4
                proto, dst = frame[23], socket.inet_ntoa(frame[30:34])
                udp = frame[14 + ihl:]
                dport = int.from_bytes(udp[2:4], "big") if proto == 17 else None
                if proto == 17 and udp[8:13] == b"MARK ":
                    print(json.dumps({"round": udp[13:].decode(), "heard": heard,
                                      "answered": answered}), flush=True)
                    heard, answered = [], 0
                else:
                    heard.append([dst, proto, dport])
    """
)

MARK = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.sendto(("MARK " + sys.argv[1]).encode(), ("255.255.255.255", 9))
    """
)

LISTENER_HOST = ("198.18.0.11", "28:57:be:00:00:0b")  # on the scanner's 198.18.0.0/24
OFF_LINK = ("198.19.0.21", "3c:ef:8c:00:00:15")  # another subnet (reached without a router)


class Segment:
    def __init__(self, lab: Any, listener: subprocess.Popen[str], workdir: Path) -> None:
        self.lab, self.listener, self.workdir = lab, listener, workdir
        self.rounds = 0

    def scan(self, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """One `camscan scan` in the scanner namespace; (its device list, what the listener
        heard from the scanner during it)."""
        self.rounds += 1
        out = self.workdir / f"scan-{self.rounds}.json"
        argv = [sys.executable, "-m", "camscan", "scan", *args, "--listen", "1", "-q", "-o",
                str(out)]  # fmt: skip
        done = self.lab.run(self.lab.scanner_ns, argv, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        mark = [sys.executable, "-c", MARK, str(self.rounds)]
        assert self.lab.run(self.lab.scanner_ns, mark, capture_output=True).returncode == 0
        assert self.listener.stdout is not None
        heard = json.loads(self.listener.stdout.readline())
        assert heard["round"] == str(self.rounds)
        return json.loads(out.read_text()), heard


@pytest.fixture(scope="module")
def segment() -> Iterator[Segment]:
    from camscan.lab.testing import lab_or_skip
    from camscan.lab.topology import LabHost

    hosts = [LabHost(*LISTENER_HOST), LabHost(*OFF_LINK)]
    with lab_or_skip(hosts) as lab, tempfile.TemporaryDirectory() as tmp:
        args = [lab.ifname_of(LISTENER_HOST[0]), LISTENER_HOST[0], lab.scanner_mac]
        listener = lab.spawn(
            lab.devices_ns,
            [sys.executable, "-c", LISTENER, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        yield Segment(lab, listener, Path(tmp))


@pytest.mark.lab
@pytest.mark.parametrize("interface", [[], ["--interface", "eth0"]], ids=["default", "named"])
def test_an_off_link_scan_sends_nothing_the_segment_hears(
    segment: Segment, interface: list[str]
) -> None:
    doc, heard = segment.scan(OFF_LINK[0], *interface)
    assert heard["heard"] == []  # before the fix: WS-Discovery, SSDP, SADP, Dahua, mDNS ...
    assert [d["ip"] for d in doc["devices"]] in ([], [OFF_LINK[0]])
    assert any("no multicast or broadcast inquiry sent" in w for w in doc["scan"]["warnings"])


@pytest.mark.lab
def test_an_excluded_host_that_answers_is_dropped_and_named(segment: Segment) -> None:
    doc, heard = segment.scan("198.18.0.0/28", "--exclude", LISTENER_HOST[0], "--modules", "wsd")
    # the segment holds targets: the inquiry goes out, and the excluded listener hears it
    assert ["239.255.255.250", 17, 3702] in heard["heard"]
    assert heard["answered"] >= 1
    assert LISTENER_HOST[0] not in [d["ip"] for d in doc["devices"]]
    assert (
        "scan: 1 host outside the targets (excluded or not targeted) answered the multicast "
        f"or broadcast inquiry (wsd); their answers were dropped: {LISTENER_HOST[0]}"
    ) in doc["scan"]["warnings"]


def test_arp_asks_only_about_the_targets_part_of_the_segment() -> None:
    from camscan.discovery.arp import arp_targets

    ctx = ScanContext(
        targets=[N("10.1.5.0/30"), N("10.9.0.0/24"), N("10.1.255.254/31")],
        interface="lab0",
        local_ip="10.1.0.1",
        attached=[N("10.1.0.0/16")],
    )
    # .0 and .3 of the /30 are hosts of the /16; its broadcast .255.255 is not
    assert arp_targets(ctx) == (["10.1.5.0", "10.1.5.1", "10.1.5.2", "10.1.5.3",
                                 "10.1.255.254"], False)  # fmt: skip
    off_link = ScanContext(targets=[N("10.9.0.0/24")], interface="lab0", local_ip="10.1.0.1",
                           attached=[N("10.1.0.0/16")])  # fmt: skip
    assert arp_targets(off_link) == ([], False)


def test_arp_opens_no_socket_without_a_target_on_the_segment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from camscan.discovery import arp

    monkeypatch.setattr(arp, "_Sweep", lambda *a: pytest.fail("a raw socket for nothing"))
    ctx = ScanContext(targets=[N("10.9.0.0/24")], interface="lab0", local_ip="10.1.0.1",
                      attached=[N("10.1.0.0/16")])  # fmt: skip
    asyncio.run(arp.ArpModule().run(ctx))
    assert ctx.warnings == ["arp: skipped: no target on the scan interface's subnet"]
