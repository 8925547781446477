"""The lab network: real namespaces, real sockets, no packet outside the lab's own namespaces."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest

from camscan.errors import LabError
from camscan.lab import Lab, LabHost, cleanup_stale
from camscan.lab.iproute import ip_batch, netns_names
from camscan.lab.state import LabState, remove_state, state_path, write_state
from camscan.lab.testing import lab_or_skip, lab_skip_reason
from camscan.lab.topology import Topology
from camscan.lab.unpriv import unprivileged_argv

HOSTS = [
    LabHost("198.18.0.11", "28:57:be:00:00:0b"),  # Hikvision
    LabHost("198.18.0.12", "3c:ef:8c:00:00:0c"),  # Dahua
    LabHost("198.18.0.13", "ac:cc:8e:00:00:0d"),  # Axis
    LabHost("198.18.0.14", "00:16:6c:00:00:0e"),  # Hanwha
    LabHost("198.18.0.15", "ec:71:db:00:00:0f"),  # Reolink
]
TCP_HOST = HOSTS[2]  # "host 3"
TCP_PORT = 8080
TEST_NET_2 = "198.51.100.1"

_SKIP = lab_skip_reason()


def needs_lab(test: Callable[..., None]) -> Callable[..., None]:
    """Marks a test `lab` and skips it, with the reason, where no lab can be built."""
    return pytest.mark.lab(pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")(test))


# Runs in the devices namespace. Per host: a multicast socket (239.255.255.250:37020) and a
# broadcast socket (:10001), each pinned to the host's macvlan; a TCP listener on host 3.
# Answers each multicast datagram with a multicast of its own (224.0.0.251:5353) and the "END"
# broadcast with a broadcast (:10002), both sent from the host's address.
DEVICES = textwrap.dedent(
    """
    import json, selectors, socket, struct, sys
    hosts, tcp_ip, tcp_port = json.loads(sys.argv[1])
    sel = selectors.DefaultSelector()
    got = {ip: {"mcast": [], "bcast": []} for ip, _ in hosts}
    senders = {}
    for ip, ifname in hosts:
        index = socket.if_nametoindex(ifname)
        m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        m.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        m.setsockopt(socket.IPPROTO_IP, 49, 0)  # IP_MULTICAST_ALL off
        m.bind(("239.255.255.250", 37020))
        mreqn = struct.pack("4s4si", socket.inet_aton("239.255.255.250"), bytes(4), index)
        m.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        b.bind(("", 10001))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
        s.bind((ip, 0))
        senders[ip] = s
        sel.register(m, selectors.EVENT_READ, (ip, "mcast"))
        sel.register(b, selectors.EVENT_READ, (ip, "bcast"))
    listener = socket.create_server((tcp_ip, tcp_port))
    print("ready", flush=True)
    ended = set()
    while len(ended) < len(hosts):
        for key, _ in sel.select(timeout=10) or sys.exit("devices: timed out"):
            ip, kind = key.data
            data = key.fileobj.recv(2048).decode()
            got[ip][kind].append(data)
            if kind == "mcast":
                senders[ip].sendto(("M-" + ip).encode(), ("224.0.0.251", 5353))
            elif data == "END":
                ended.add(ip)
                senders[ip].sendto(("B-" + ip).encode(), ("255.255.255.255", 10002))
    for key in list(sel.get_map().values()):  # anything still queued counts too
        key.fileobj.setblocking(False)
        while True:
            try:
                got[key.data[0]][key.data[1]].append(key.fileobj.recv(2048).decode())
            except BlockingIOError:
                break
    print(json.dumps(got), flush=True)
    """
)

# Runs in the scanner namespace: TCP connects with an AF_PACKET capture of the replies, then
# one multicast and three broadcasts, then waits for every device's two answers, then tries a
# TEST-NET-2 address.
SCANNER = textwrap.dedent(
    """
    import errno, json, socket, struct, sys, time
    ips, tcp_port, subnet_bcast, outside = json.loads(sys.argv[1])
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    cap.bind(("eth0", 0))
    mrx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mrx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    mrx.bind(("224.0.0.251", 5353))
    mrx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                   socket.inet_aton("224.0.0.251") + bytes(4))
    brx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    brx.bind(("", 10002))
    for rx in (mrx, brx):  # every device answers at once
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    tcp = {}
    for ip in ips:
        c = socket.socket()
        c.settimeout(5)
        tcp[ip] = c.connect_ex((ip, tcp_port))
        c.close()
    cap.setblocking(False)
    reply_macs = {}
    while True:
        try:
            frame, addr = cap.recvfrom(2048)
        except BlockingIOError:
            break
        if addr[2] == 0 and frame[23] == 6:  # PACKET_HOST, TCP
            src = socket.inet_ntoa(frame[26:30])
            reply_macs.setdefault(src, set()).add(frame[6:12].hex(":"))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    tx.sendto(b"PROBE", ("239.255.255.250", 37020))
    tx.sendto(b"ALL", ("255.255.255.255", 10001))
    tx.sendto(b"SUBNET", (subnet_bcast, 10001))
    tx.sendto(b"END", ("255.255.255.255", 10001))
    answers = {"mcast": [], "bcast": []}
    deadline = time.monotonic() + 10
    for sock, kind in ((mrx, "mcast"), (brx, "bcast")):
        while len(answers[kind]) < len(ips) and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, (src, _) = sock.recvfrom(2048)
            except socket.timeout:
                break
            answers[kind].append([src, data.decode()])
    out = socket.socket()
    outside_errno = out.connect_ex((outside, 80))
    print(json.dumps({
        "tcp": tcp, "reply_macs": {k: sorted(v) for k, v in reply_macs.items()},
        "answers": answers, "outside_errno": outside_errno,
    }))
    """
)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with lab_or_skip(HOSTS) as built:
        yield built


@pytest.fixture(scope="module")
def exchange(lab: Lab) -> dict[str, object]:
    """One round of scanner <-> devices traffic; the tests below read its results."""
    hosts = [[h.ip, lab.ifname_of(h.ip)] for h in lab.hosts]
    devices = lab.spawn(
        lab.devices_ns,
        [sys.executable, "-c", DEVICES, json.dumps([hosts, TCP_HOST.ip, TCP_PORT])],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert devices.stdout is not None
    assert devices.stdout.readline().strip() == "ready"
    args = [[h.ip for h in lab.hosts], TCP_PORT, "198.18.0.255", TEST_NET_2]
    scan = lab.run(
        lab.scanner_ns,
        [sys.executable, "-c", SCANNER, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert scan.returncode == 0, scan.stderr
    device_out, _ = devices.communicate(timeout=30)
    assert devices.returncode == 0, device_out
    neigh = lab.run(
        lab.scanner_ns, ["ip", "-j", "neigh", "show", "dev", "eth0"], capture_output=True, text=True
    )
    return {
        "scanner": json.loads(scan.stdout),
        "devices": json.loads(device_out.splitlines()[-1]),
        "neigh": {n["dst"]: n.get("lladdr") for n in json.loads(neigh.stdout)},
    }


@needs_lab
def test_tcp_reaches_host_3_and_every_reply_carries_its_hosts_mac(exchange: dict) -> None:
    scanner = exchange["scanner"]
    expected = {h.ip: 0 if h is TCP_HOST else errno.ECONNREFUSED for h in HOSTS}
    assert scanner["tcp"] == expected
    # SYN-ACK (host 3) and RSTs (others) each come from the host's own MAC.
    assert scanner["reply_macs"] == {h.ip: [h.mac] for h in HOSTS}


@needs_lab
def test_arp_gives_each_address_its_own_mac(exchange: dict) -> None:
    assert exchange["neigh"] == {h.ip: h.mac for h in HOSTS}


@needs_lab
def test_multicast_and_broadcast_reach_each_device_exactly_once(exchange: dict) -> None:
    for ip, got in exchange["devices"].items():
        assert got["mcast"] == ["PROBE"], ip
        assert got["bcast"] == ["ALL", "SUBNET", "END"], ip


@needs_lab
def test_device_multicast_and_broadcast_reach_the_scanner(exchange: dict) -> None:
    answers = exchange["scanner"]["answers"]
    assert sorted(answers["mcast"]) == [[h.ip, f"M-{h.ip}"] for h in HOSTS]
    assert sorted(answers["bcast"]) == [[h.ip, f"B-{h.ip}"] for h in HOSTS]


@needs_lab
def test_nothing_leaves_the_lab(lab: Lab, exchange: dict) -> None:
    assert exchange["scanner"]["outside_errno"] == errno.ENETUNREACH
    routes = lab.run(
        lab.scanner_ns,
        ["ip", "-j", "route", "show", "table", "all"],
        capture_output=True,
        text=True,
    )
    assert all(r["dst"] != "default" for r in json.loads(routes.stdout))
    names = [lab.scanner_ns, lab.devices_ns, lab.bridge_ns]
    assert set(names) <= set(netns_names())


@needs_lab
def test_teardown_runs_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), lab_or_skip(HOSTS[:2]) as lab:
        names = [lab.scanner_ns, lab.devices_ns, lab.bridge_ns]
        lab.spawn(lab.devices_ns, ["sleep", "60"])
        raise RuntimeError("boom")
    assert not set(names) & set(netns_names())
    assert not state_path(lab.topology.stem).exists()


LAB_CHILD = textwrap.dedent(
    """
    import json, sys
    from camscan.lab import Lab, LabHost
    lab = Lab([LabHost("198.18.0.11", "28:57:be:00:00:0b")]).up()
    print(json.dumps([lab.scanner_ns, lab.devices_ns, lab.bridge_ns]), flush=True)
    sys.stdin.read()  # until the test closes it or kills us
    """
)


def _child_lab() -> tuple[subprocess.Popen[str], list[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", LAB_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    names = json.loads(child.stdout.readline())
    assert set(names) <= set(netns_names())
    return child, names


@needs_lab
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_tears_the_lab_down(sig: int) -> None:
    child, names = _child_lab()
    child.send_signal(sig)
    child.wait(timeout=30)
    assert child.returncode != 0
    assert not set(names) & set(netns_names())


@needs_lab
def test_a_killed_runs_lab_is_removed_by_cleanup_stale() -> None:
    child, names = _child_lab()
    child.kill()
    child.wait(timeout=30)
    assert set(names) <= set(netns_names())  # SIGKILL leaves it behind...
    assert set(names) <= set(cleanup_stale())  # ...until the next cleanup
    assert not set(names) & set(netns_names())


@needs_lab
def test_cleanup_stale_removes_a_state_file_with_a_dead_pid_only() -> None:
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()  # its pid is free again
    stale = Topology.plan([], "198.18.0.0/24", None, "zz0stale")
    alive = Topology.plan([], "198.18.0.0/24", None, "zz0alive")
    try:
        write_state(LabState(stale.stem, dead_pid.pid, 1, stale.namespaces, 0.0))
        write_state(LabState.for_this_process(alive.stem, alive.namespaces))
        ip_batch(stale.batches().root + alive.batches().root)
        removed = cleanup_stale()
        assert set(stale.namespaces) <= set(removed)
        assert not set(alive.namespaces) & set(removed)
        assert not set(stale.namespaces) & set(netns_names())
        assert set(alive.namespaces) <= set(netns_names())
        assert not state_path(stale.stem).exists()
    finally:
        ip_batch("".join(f"netns del {n}\n" for n in alive.namespaces), force=True)
        remove_state(alive.stem)


def test_lab_refuses_addresses_outside_the_lab_range() -> None:
    with pytest.raises(LabError, match="outside"):
        Lab([LabHost("192.168.1.10", "28:57:be:00:00:01")])
    with pytest.raises(LabError, match="outside"):
        Lab([], subnet="10.0.0.0/24")
    with pytest.raises(LabError, match="twice"):
        Lab([LabHost("198.18.0.1", "28:57:be:00:00:01")])  # the scanner's default address
    with pytest.raises(LabError, match="unicast"):
        Lab([LabHost("198.18.0.5", "01:00:5e:00:00:01")])


def test_names_and_addresses_follow_the_plan() -> None:
    hosts = [
        LabHost(f"198.18.{i // 200}.{i % 200 + 2}", f"28:57:be:00:{i // 256:02x}:{i % 256:02x}", 21)
        for i in range(300)
    ]
    lab = Lab(hosts, subnet="198.18.0.0/21", suffix="cs0a0b0c")
    assert (lab.scanner_ns, lab.devices_ns, lab.bridge_ns) == (
        "cs0a0b0c-scan",
        "cs0a0b0c-dev",
        "cs0a0b0c-br",
    )
    assert lab.scanner_ip == "198.18.0.1"
    assert lab.ifname_of("198.18.1.2") == "m201"
    assert lab.scanner_mac.startswith("02:")
    batches = lab.topology.batches()
    assert "addr add 198.18.0.1/21 broadcast + dev eth0" in batches.scanner
    assert "default" not in batches.scanner
    assert "route add broadcast 198.18.7.255 dev m1 table local" in batches.devices
    assert not lab.active
    lab.down()  # never built: nothing to do


USERNS_CHILD = textwrap.dedent(
    """
    import json, os, sys
    from camscan.lab import Lab, LabHost, lab_available
    from camscan.lab.unpriv import inside_user_namespace
    probe = "import socket; print(socket.socket().connect_ex(('198.18.0.11', 9)))"
    with Lab([LabHost("198.18.0.11", "28:57:be:00:00:0b")]) as lab:
        names = sorted(os.listdir("/run/netns"))
        done = lab.run(lab.scanner_ns, [sys.executable, "-c", probe], capture_output=True)
    print(json.dumps({"userns": inside_user_namespace(), "names": names,
                      "connect_errno": int(done.stdout), "after": os.listdir("/run/netns"),
                      "available": lab_available()}))
    """
)


@needs_lab
def test_the_lab_builds_inside_an_unprivileged_user_namespace() -> None:
    before = set(netns_names())
    done = subprocess.run(
        [sys.executable, "-m", "camscan.lab.unpriv", sys.executable, "-c", USERNS_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    inner = json.loads(done.stdout)
    assert inner["userns"] is True
    assert len(inner["names"]) == 3 and inner["after"] == []
    assert inner["connect_errno"] == errno.ECONNREFUSED  # the device answered with a RST
    assert inner["available"][0] is True
    # Its namespaces lived in a private /run: the machine's list never saw them.
    assert set(netns_names()) == before


def test_unprivileged_argv_keeps_the_command_last() -> None:
    argv = unprivileged_argv(["camscan", "demo"])
    assert argv[-2:] == ["camscan", "demo"]
    assert {"--user", "--map-root-user", "--net", "--mount"} <= set(argv)
