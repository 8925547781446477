"""The emulated office network: a bridge, a scanner and many devices in Linux network namespaces.

    with Lab([LabHost("198.18.0.21", "28:57:be:00:00:15"), ...]) as lab:
        lab.spawn(lab.devices_ns, [sys.executable, "-m", "my_device_simulator"])
        lab.run(lab.scanner_ns, ["camscan", "scan", "198.18.0.0/24"])

Three namespaces per lab, named `<stem>-br`, `<stem>-scan` and `<stem>-dev` (stem "cs" + 6 random
hex digits unless given). Nothing is created in the caller's namespace; the scanner has no
default route, so anything outside the lab fails at once with "Network is unreachable".

What a device process in `devices_ns` must do to behave like one box per address:

* TCP and unicast UDP: bind to the host's own IP (`(host.ip, port)`). Replies then leave through
  the host's own macvlan, with its MAC, thanks to the per-host routing table.
* Multicast (WS-Discovery 239.255.255.250:3702, SSDP 1900, SADP 37020, mDNS 224.0.0.251:5353,
  Dahua 239.255.255.251:37810): one socket per host, SO_REUSEADDR, SO_BINDTODEVICE to
  `lab.ifname_of(host.ip)` (set before bind), IP_MULTICAST_ALL=0 (option 49), bind to
  `(group, port)` and join the group with ip_mreqn on that interface's index. Each host's
  socket then gets exactly one copy of each datagram. Send answers from a socket bound to
  `(host.ip, port)` (IP_MULTICAST_IF = host.ip when answering to a group).
* Broadcast (255.255.255.255 and the subnet broadcast, e.g. Dahua 5050, Ubiquiti 10001): one
  socket per host, SO_REUSEADDR + SO_BROADCAST, SO_BINDTODEVICE to the host's interface, bind
  to `("", port)`. Every macvlan receives its own copy of a broadcast frame; the bound device
  makes each socket see only its host's copy (a socket without it would see N copies).
* Devices do not hear each other's broadcasts or multicasts (private macvlans); the scanner
  hears every device's. Traffic between two device addresses stays inside the devices
  namespace's own stack, as it would between two sockets on one host.

Receive buffers: `net.core.rmem_max` is per namespace on this kernel but read-only inside a
child namespace; it inherits the initial namespace's value (4 MiB on the test machine), so a
4 MiB SO_RCVBUF works in the lab. SO_RCVBUFFORCE goes beyond it with real root only; inside
the unprivileged user namespace it fails with EPERM.

Scale: the kernel's neighbour (ARP) table is shared by all namespaces and holds 1,024 entries
by default (`net.ipv4.neigh.default.gc_thresh3`, settable only in the initial namespace). The
devices' entries are made permanent and so do not count; the scanner's do, one per address
it talks to. See `Lab.warnings`.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from camscan.errors import LabError
from camscan.lab.iproute import (
    IP,
    delete_netns,
    ip_batch,
    kill_netns_processes,
    netns_exec_argv,
)
from camscan.lab.state import (
    LabState,
    cleanup_stale,
    remove_state,
    state_lock,
    write_state,
)
from camscan.lab.topology import LAB_RANGE, SCANNER_IF, LabHost, Topology

__all__ = ["Lab", "LabHost", "cleanup_stale", "lab_available"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_STOP_GRACE = 3.0
_DESTROY_WAIT = 60.0
_RUN_TIMEOUT = 120.0
_GC_THRESH3 = "/proc/sys/net/ipv4/neigh/default/gc_thresh3"

# IPv6 is off: the lab is IPv4, and 1,000 interfaces doing DAD and MLD reports cost time.
_COMMON_SYSCTLS = {
    "net/ipv6/conf/all/disable_ipv6": "1",
    "net/ipv6/conf/default/disable_ipv6": "1",
}
_DEVICES_SYSCTLS = {
    # One shared stack must not answer ARP for a sibling's address, nor announce the wrong one.
    "net/ipv4/conf/all/arp_ignore": "1",
    "net/ipv4/conf/all/arp_announce": "2",
    "net/ipv4/conf/default/arp_ignore": "1",
    "net/ipv4/conf/default/arp_announce": "2",
    # Skips the reverse-path lookup done for every frame received. With N "from" rules that
    # lookup walked O(N) rules for each of the N copies of a broadcast: an ARP request cost
    # 8 ms at 1,000 devices, and a /21 ARP sweep took 8.4 s to be answered (0.5 s with it).
    "net/ipv4/conf/all/accept_local": "1",
    # Real devices rate-limit ICMP each on their own; a shared stack would throttle all of
    # them together against the one scanner address.
    "net/ipv4/icmp_ratelimit": "0",
    "net/ipv4/icmp_msgs_per_sec": "100000",
    "net/ipv4/icmp_msgs_burst": "10000",
}

# The router forwards, and otherwise keeps Linux's defaults, ICMP rate limits included: like a
# real router it answers only about one unreachable a second towards one scanner.
_ROUTER_SYSCTLS = {"net/ipv4/ip_forward": "1"}


class Lab:
    """A lab network; a context manager whose exit always tears everything down."""

    def __init__(
        self,
        hosts: Sequence[LabHost],
        *,
        subnet: str = "198.18.0.0/24",
        scanner_ip: str | None = None,
        suffix: str | None = None,
        routed: str | None = None,
    ) -> None:
        """`routed`: a network (e.g. "198.19.0.0/16") whose hosts sit behind a router
        namespace instead of on the scanner's segment (see camscan.lab.topology)."""
        self.topology = Topology.plan(hosts, subnet, scanner_ip, suffix or _new_stem(), routed)
        top = self.topology
        self.hosts: tuple[LabHost, ...] = top.hosts
        self.subnet = str(top.subnet)
        self.scanner_ns = top.scanner_ns
        self.devices_ns = top.devices_ns
        self.bridge_ns = top.bridge_ns
        self.router_ns = top.router_ns if top.routed is not None else None
        self.scanner_ip = str(top.scanner_ip)
        self.scanner_if = SCANNER_IF
        self.scanner_mac = top.scanner_mac
        self.build_seconds = 0.0
        self.teardown_seconds = 0.0
        #: Things about this machine that may make the lab behave unlike a real LAN.
        self.warnings: list[str] = _neighbour_warnings(top)
        self._ifnames = {h.ip: top.ifname(i) for i, h in enumerate(top.hosts)}
        self._procs: list[tuple[subprocess.Popen[Any], bool]] = []
        self._active = False
        self._tearing_down = False
        self._pending_signal: int | None = None
        self._saved_handlers: dict[int, Any] = {}

    # lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> Lab:
        """Build the lab (after removing labs left by killed runs); return self."""
        if self._active:
            raise LabError("this lab is already up")
        if os.geteuid() != 0:
            raise LabError(
                "building the lab needs root; without root, re-run the command through "
                "camscan.lab.unpriv (an unprivileged user + network namespace)"
            )
        cleanup_stale()
        started = time.perf_counter()
        before = _root_footprint(self.topology)
        self._active = True
        self._install_signal_handlers()
        atexit.register(self.down)
        try:
            batches = self.topology.batches()
            with state_lock():
                write_state(LabState.for_this_process(self.topology.stem, self.topology.namespaces))
                ip_batch(batches.root)
            ip_batch(self._sysctl_batch())
            ip_batch(batches.bridge, self.bridge_ns)
            ip_batch(batches.scanner, self.scanner_ns)
            if self.router_ns is not None:
                ip_batch(batches.router, self.router_ns)
            ip_batch(batches.devices, self.devices_ns)
            self._verify_isolation(before)
        except BaseException:
            self.down()
            raise
        self.build_seconds = time.perf_counter() - started
        return self

    def down(self) -> None:
        """Stop spawned processes and delete the namespaces. Safe to call any number of times."""
        if not self._active or self._tearing_down:
            return
        self._tearing_down = True
        started = time.perf_counter()
        try:
            self._stop_processes()
            names = self.topology.namespaces
            kill_netns_processes(names)
            delete_netns([self.devices_ns, self.scanner_ns, *names[3:]])
            self._wait_devices_destroyed()
            delete_netns([self.bridge_ns])
            remove_state(self.topology.stem)
        finally:
            self.teardown_seconds = time.perf_counter() - started
            self._active = False
            self._tearing_down = False
            atexit.unregister(self.down)
            self._restore_signal_handlers()
        pending, self._pending_signal = self._pending_signal, None
        if pending is not None:
            _raise_for_signal(pending)

    @property
    def active(self) -> bool:
        return self._active

    # processes ----------------------------------------------------------------------------
    def netns_argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        """argv that runs `argv` inside one of this lab's namespaces."""
        if ns not in self.topology.namespaces:
            raise LabError(f"{ns!r} is not a namespace of this lab")
        return netns_exec_argv(ns, argv)

    def spawn(self, ns: str, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` inside `ns`, in a session of its own; it is killed by down()."""
        if not self._active:
            raise LabError("the lab is not up")
        popen_kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(self.netns_argv(ns, argv), **popen_kwargs)
        self._procs.append((proc, bool(popen_kwargs["start_new_session"])))
        return proc

    def run(self, ns: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run `argv` inside `ns` to completion (default timeout 120 s)."""
        if not self._active:
            raise LabError("the lab is not up")
        kw.setdefault("timeout", _RUN_TIMEOUT)
        kw.setdefault("check", False)
        return subprocess.run(self.netns_argv(ns, argv), **kw)

    def ifname_of(self, ip: str) -> str:
        """Name of the macvlan interface that carries host `ip` in the devices namespace."""
        try:
            return self._ifnames[str(ipaddress.IPv4Address(ip))]
        except (KeyError, ValueError):
            raise LabError(f"{ip} is not a host of this lab") from None

    def _stop_processes(self) -> None:
        procs, self._procs = self._procs, []
        live = [(p, own) for p, own in procs if p.poll() is None]
        for proc, own_session in live:
            _signal_proc(proc, own_session, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        for proc, own_session in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_proc(proc, own_session, signal.SIGKILL)
                proc.wait()
            if own_session:
                # Children that outlived their session leader still carry its group id.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

    # build helpers ------------------------------------------------------------------------
    def _sysctl_batch(self) -> str:
        def line(ns: str, values: dict[str, str]) -> str:
            writes = "; ".join(f"echo {v} > /proc/sys/{k}" for k, v in values.items())
            return f'netns exec {ns} sh -ec "{writes}"\n'

        router = line(self.router_ns, _COMMON_SYSCTLS | _ROUTER_SYSCTLS) if self.router_ns else ""
        return (
            line(self.bridge_ns, _COMMON_SYSCTLS)
            + line(self.scanner_ns, _COMMON_SYSCTLS)
            + line(self.devices_ns, _COMMON_SYSCTLS | _DEVICES_SYSCTLS)
            + router
        )

    def _verify_isolation(self, root_before: frozenset[str]) -> None:
        routes = _ip_json(["-n", self.scanner_ns, "route", "show", "table", "all"])
        defaults = [r for r in routes if r.get("dst") in ("default", "0.0.0.0/0")]
        if defaults:
            raise LabError(f"the scanner namespace has a default route: {defaults}")
        if self.router_ns is not None:
            routes = _ip_json(["-n", self.router_ns, "route", "show", "table", "all"])
            if [r for r in routes if r.get("dst") in ("default", "0.0.0.0/0")]:
                raise LabError("the router namespace has a default route")
        links = {link.get("ifname") for link in _ip_json(["-n", self.scanner_ns, "link"])}
        if links != {"lo", SCANNER_IF}:
            raise LabError(f"unexpected links in the scanner namespace: {sorted(links)}")
        leaked = _root_footprint(self.topology) - root_before
        if leaked:
            raise LabError(f"the lab leaked into the caller's namespace: {sorted(leaked)}")

    def _wait_devices_destroyed(self) -> None:
        # `ip netns del` only drops the name; the kernel tears the devices' stack down in the
        # background. The bridge-side veth vanishes when that is over: wait for it (bounded) so
        # the next lab starts on a clean kernel (neighbour entries, memory).
        deadline = time.monotonic() + _DESTROY_WAIT
        while time.monotonic() < deadline:
            done = subprocess.run(
                [IP, "-n", self.bridge_ns, "-o", "link", "show", "v-dev"],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if done.returncode != 0:
                return
            time.sleep(0.02)

    # signals ------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; atexit and `with` still apply
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if previous is signal.SIG_IGN:
                continue
            self._saved_handlers[sig] = previous
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        saved, self._saved_handlers = self._saved_handlers, {}
        for sig, previous in saved.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._tearing_down:
            self._pending_signal = signum  # finish the teardown first; down() raises after
            return
        previous = self._saved_handlers.get(signum)
        if callable(previous) and previous is not signal.default_int_handler:
            self.down()
            previous(signum, frame)
            return
        _raise_for_signal(signum)


def lab_available() -> tuple[bool, str]:
    """Can a lab be built here? Returns (True, how) or (False, a one-line reason)."""
    if not sys.platform.startswith("linux"):
        return False, "the lab needs Linux network namespaces"
    if not shutil.which(IP):
        return False, "the lab needs iproute2 ('ip'), which is not installed"
    unshare = shutil.which("unshare")
    if os.geteuid() == 0:
        if unshare is None:
            return True, "root (could not pre-check kernel support: no 'unshare')"
        ok, why = _probe([unshare, "--net"])
        return (True, "root") if ok else (False, f"kernel lacks what the lab needs: {why}")
    if unshare is None:
        return False, "not root, and 'unshare' (util-linux) is missing for a user namespace"
    ok, why = _probe([unshare, "--user", "--map-root-user", "--net", "--mount"])
    if ok:
        return True, "not root: runs inside an unprivileged user namespace (camscan.lab.unpriv)"
    return False, f"not root, and unprivileged user namespaces are unavailable: {why}"


def _probe(prefix: list[str]) -> tuple[bool, str]:
    # Build one of each link type the lab needs in a throwaway anonymous namespace.
    script = (
        f"{IP} link add csp0 type veth peer name csp1"
        f" && {IP} link add csp2 link csp0 type macvlan mode bridge"
        f" && {IP} link add csp3 type bridge"
    )
    try:
        done = subprocess.run(
            [*prefix, "sh", "-c", script], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return False, lines[-1] if lines else f"exit status {done.returncode}"
    return True, ""


def _neighbour_warnings(top: Topology) -> list[str]:
    try:
        limit = int(Path(_GC_THRESH3).read_text())
    except (OSError, ValueError):
        return []  # not visible from here (a child namespace): nothing to compare
    addresses = top.subnet.num_addresses - 2
    if addresses + 16 <= limit:
        return []
    return [
        f"the kernel keeps at most {limit} neighbour entries (net.ipv4.neigh.default."
        f"gc_thresh3, shared by all namespaces); a scanner that sends to every one of the "
        f"{addresses} addresses of {top.subnet} within a few seconds will see some of them "
        "fail with 'neighbour table overflow' (raise gc_thresh3 in the initial namespace)"
    ]


def _new_stem() -> str:
    return "cs" + secrets.token_hex(3)


def _signal_proc(proc: subprocess.Popen[Any], own_session: bool, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if own_session:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def _raise_for_signal(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _ip_json(args: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [IP, "-j", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    try:
        data = json.loads(done.stdout or "[]")
    except ValueError:
        raise LabError(f"ip {' '.join(args)} printed no JSON") from None
    return [d for d in data if isinstance(d, dict)]


def _root_footprint(top: Topology) -> frozenset[str]:
    """What of this lab is visible in the caller's namespace (must stay as it was)."""
    macs = {h.mac for h in top.hosts} | {top.scanner_mac}
    found: set[str] = set()
    for link in _ip_json(["link"]):
        if str(link.get("address", "")).lower() in macs:
            found.add(f"link {link.get('ifname')} {link.get('address')}")
    for link in _ip_json(["-4", "addr"]):
        for info in link.get("addr_info", []):
            if _in_lab(info.get("local")):
                found.add(f"address {info.get('local')} on {link.get('ifname')}")
    for route in _ip_json(["-4", "route", "show", "table", "all"]):
        if _in_lab(str(route.get("dst", "")).split("/")[0]):
            found.add(f"route {route.get('dst')} dev {route.get('dev')}")
    return frozenset(found)


def _in_lab(addr: object) -> bool:
    try:
        return ipaddress.IPv4Address(str(addr)) in LAB_RANGE
    except ValueError:
        return False
