"""The lab's shape as data: which namespaces, links, addresses, routes and rules to create.

Pure code (no processes, no sockets): `Topology` validates the caller's hosts and renders the
`ip -batch` scripts that `camscan.lab.netns.Lab` feeds to iproute2, one script per namespace.

Layout (design (b) of the lab recipe):

    scanner ns                  bridge ns                      devices ns
    eth0 (02:00:xx:xx:xx:01) ── s-scan ─┐               ┌─ up0 (veth, no address)
    scanner_ip/<subnet prefix>         br0 ── v-dev ─────┘     ├─ m1 macvlan, host 1 MAC, ip/32
                                                              ├─ m2 ...
                                                              └─ mN

Every host address is a /32 on its own ("private") macvlan, with a routing table of its own
selected by `ip rule from <ip>`, so replies leave through the host's own interface and carry
its own MAC. `arp_ignore=1`/`arp_announce=2` (set by `Lab`) stop the shared stack from
answering ARP for a sibling.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from camscan.errors import LabError

#: Every lab address lives here (RFC 2544 benchmarking range); nothing outside is ever assigned.
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
MULTICAST = "224.0.0.0/4"
LIMITED_BROADCAST = "255.255.255.255/32"
SCANNER_IF = "eth0"
BRIDGE_IF = "br0"
UPLINK_IF = "up0"
FIRST_TABLE = 1000
# "private" macvlans: devices do not hear each other's broadcasts and multicasts (the scanner
# hears all of them). In "bridge" mode 1,000 devices answering one probe by broadcast meant a
# million sibling copies, which overflowed the kernel's per-CPU backlog and lost answers.
# Broadcast/multicast frames from the scanner wait in one macvlan queue while the kernel
# clones them to every device. With the default length (1,000), two back-to-back full-speed
# ARP sweeps of a /21 (4,090 frames) to 1,000 devices lost 1,085 frames; with 8,192, none.
BCAST_QUEUE = 8192
#: IGMPv3 reports, mDNS, SSDP/WS-Discovery/SADP, Dahua discovery.
DISCOVERY_GROUPS = ("224.0.0.22", "224.0.0.251", "239.255.255.250", "239.255.255.251")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_STEM_RE = re.compile(r"^[a-z0-9]{1,10}$")


@dataclass(frozen=True)
class LabHost:
    """One emulated device: its address, its MAC (a real vendor prefix) and its subnet's prefix."""

    ip: str
    mac: str
    prefix: int = 24

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.ip}/{self.prefix}", strict=False)


@dataclass(frozen=True)
class Batches:
    """`ip -batch` scripts, in the order they must run."""

    root: str  # run with plain `ip -batch` in the caller's namespace: only `netns add`
    bridge: str
    scanner: str
    devices: str


@dataclass(frozen=True)
class Topology:
    """A validated lab plan. Build with `Topology.plan(...)`."""

    stem: str
    subnet: ipaddress.IPv4Network
    scanner_ip: ipaddress.IPv4Address
    hosts: tuple[LabHost, ...]

    @classmethod
    def plan(
        cls, hosts: Sequence[LabHost], subnet: str, scanner_ip: str | None, stem: str
    ) -> Topology:
        if not _STEM_RE.match(stem):
            raise LabError(f"lab name suffix {stem!r} must be 1-10 characters of [a-z0-9]")
        net = _network(subnet, "subnet")
        if net.prefixlen > 30:
            raise LabError(f"lab subnet {net} is too small")
        scan = _address(scanner_ip, "scanner_ip") if scanner_ip else net.network_address + 1
        if scan not in net or scan in (net.network_address, net.broadcast_address):
            raise LabError(f"scanner address {scan} is not a usable address of {net}")
        checked = tuple(_check_host(h) for h in hosts)
        _check_unique(checked, scan)
        return cls(stem=stem, subnet=net, scanner_ip=scan, hosts=checked)

    # names ------------------------------------------------------------------------------
    @property
    def scanner_ns(self) -> str:
        return f"{self.stem}-scan"

    @property
    def devices_ns(self) -> str:
        return f"{self.stem}-dev"

    @property
    def bridge_ns(self) -> str:
        return f"{self.stem}-br"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        """Creation order; teardown goes the other way round."""
        return (self.bridge_ns, self.scanner_ns, self.devices_ns)

    @property
    def scanner_mac(self) -> str:
        """Locally administered, derived from the stem so two labs never share it."""
        digest = hashlib.blake2b(self.stem.encode(), digest_size=3).hexdigest()
        return "02:00:" + ":".join(digest[i : i + 2] for i in (0, 2, 4)) + ":01"

    def _static_neighbours(self, host: LabHost) -> list[tuple[str, str]]:
        bcast = "ff:ff:ff:ff:ff:ff"
        found = [(str(self.scanner_ip), self.scanner_mac), ("255.255.255.255", bcast)]
        found += [
            (str(n.broadcast_address), bcast)
            for n in _distinct((host.network, self.subnet))
            if n.prefixlen < 31
        ]
        found += [(g, _multicast_mac(g)) for g in DISCOVERY_GROUPS]
        return found

    @staticmethod
    def ifname(index: int) -> str:
        """Name of host number `index` (0-based position in `hosts`) in the devices ns."""
        return f"m{index + 1}"

    def extra_networks(self) -> list[ipaddress.IPv4Network]:
        """Host subnets that the lab subnet does not cover (on-link routes for the scanner)."""
        return [n for n in _distinct(h.network for h in self.hosts) if not n.subnet_of(self.subnet)]

    # scripts ----------------------------------------------------------------------------
    def batches(self) -> Batches:
        return Batches(
            root="".join(f"netns add {ns}\n" for ns in self.namespaces),
            bridge=self._bridge_batch(),
            scanner=self._scanner_batch(),
            devices=self._devices_batch(),
        )

    def _bridge_batch(self) -> str:
        # An unmanaged switch: no STP, no multicast snooping (it floods every group).
        return (
            "link set lo up\n"
            f"link add {BRIDGE_IF} type bridge stp_state 0 mcast_snooping 0\n"
            f"link set {BRIDGE_IF} up\n"
            f"link add s-scan type veth peer name {SCANNER_IF} netns {self.scanner_ns}\n"
            f"link set s-scan master {BRIDGE_IF} up\n"
            f"link add v-dev type veth peer name {UPLINK_IF} netns {self.devices_ns}\n"
            f"link set v-dev master {BRIDGE_IF} up\n"
        )

    def _scanner_batch(self) -> str:
        dev = SCANNER_IF
        lines = [
            "link set lo up",
            f"link set {dev} address {self.scanner_mac}",
            f"addr add {self.scanner_ip}/{self.subnet.prefixlen} broadcast + dev {dev}",
            f"link set {dev} up",
            # No default route on purpose: anything outside the lab is "Network is unreachable".
            f"route add {MULTICAST} dev {dev}",
            f"route add {LIMITED_BROADCAST} dev {dev}",
        ]
        lines += [f"route add {n} dev {dev}" for n in self.extra_networks()]
        return "\n".join(lines) + "\n"

    def _devices_batch(self) -> str:
        lines = [
            "link set lo up",
            f"link set {UPLINK_IF} up",
            # Frames coming in need no per-host table. Without this rule each of the N copies
            # of a broadcast for a non-lab address (an ARP request for an empty address) walked
            # all N "from" rules: after a /21 ARP sweep, 1,000 devices stayed busy for 6 s.
            f"rule add not iif lo table main pref {FIRST_TABLE - 1}",
        ]
        for i, host in enumerate(self.hosts):
            dev, table = self.ifname(i), FIRST_TABLE + i
            lines += [
                f"link add {dev} link {UPLINK_IF} address {host.mac} type macvlan"
                f" mode private bcqueuelen {BCAST_QUEUE}",
                f"addr add {host.ip}/32 dev {dev}",
                f"link set {dev} up",
            ]
            for net in _distinct((host.network, self.subnet)):
                lines.append(f"route add {net} dev {dev} src {host.ip} table {table}")
            lines += [
                f"route add {MULTICAST} dev {dev} table {table}",
                f"route add {LIMITED_BROADCAST} dev {dev} table {table}",
                f"rule add from {host.ip} table {table} pref {table}",
            ]
            # The kernel's neighbour table is shared by every namespace and, by default, full
            # at 1,024 entries. Permanent entries do not count, so the devices' entries for
            # the scanner and for the usual broadcast and discovery multicast addresses are
            # made permanent: only the scanner's own entries count against the limit.
            lines += [
                f"neigh add {ip} lladdr {mac} dev {dev} nud permanent"
                for ip, mac in self._static_neighbours(host)
            ]
        if self.hosts:
            first = self.ifname(0)
            # Fallback for sockets bound to 0.0.0.0 without SO_BINDTODEVICE.
            lines += [
                f"route add {self.subnet} dev {first}",
                f"route add {MULTICAST} dev {first}",
                f"route add {LIMITED_BROADCAST} dev {first}",
            ]
            # /32 addresses create no subnet-broadcast entry; without one, a datagram to e.g.
            # 198.18.0.255 would be treated as unicast to somebody else and dropped.
            nets = _distinct([self.subnet, *(h.network for h in self.hosts)])
            lines += [
                f"route add broadcast {n.broadcast_address} dev {first} table local"
                for n in nets
                if n.prefixlen < 31
            ]
        return "\n".join(lines) + "\n"


def _multicast_mac(group: str) -> str:
    low = int(ipaddress.IPv4Address(group)) & 0x7FFFFF
    return f"01:00:5e:{low >> 16:02x}:{(low >> 8) & 0xFF:02x}:{low & 0xFF:02x}"


def _network(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise LabError(f"lab {what} {text!r} is not an IPv4 network: {exc}") from None
    if not net.subnet_of(LAB_RANGE):
        raise LabError(f"lab {what} {net} is outside {LAB_RANGE}")
    return net


def _address(text: str, what: str) -> ipaddress.IPv4Address:
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise LabError(f"lab {what} {text!r} is not an IPv4 address") from None
    if addr not in LAB_RANGE:
        raise LabError(f"lab {what} {addr} is outside {LAB_RANGE}")
    return addr


def _check_host(host: LabHost) -> LabHost:
    addr = _address(host.ip, "host address")
    if not 8 <= host.prefix <= 30:
        raise LabError(f"lab host {addr}: prefix /{host.prefix} must be between 8 and 30")
    net = host.network
    if not net.subnet_of(LAB_RANGE):
        raise LabError(f"lab host {addr}: its subnet {net} is outside {LAB_RANGE}")
    if addr in (net.network_address, net.broadcast_address):
        raise LabError(f"lab host {addr} is the network or broadcast address of {net}")
    mac = host.mac.lower()
    if not _MAC_RE.match(mac) or int(mac[:2], 16) & 1:
        raise LabError(f"lab host {addr}: {host.mac!r} is not a unicast MAC address")
    return LabHost(ip=str(addr), mac=mac, prefix=host.prefix)


def _check_unique(hosts: tuple[LabHost, ...], scanner: ipaddress.IPv4Address) -> None:
    ips: set[str] = {str(scanner)}
    macs: set[str] = set()
    for h in hosts:
        if h.ip in ips:
            raise LabError(f"lab address {h.ip} is used twice (scanner included)")
        if h.mac in macs:
            raise LabError(f"lab MAC {h.mac} is used twice")
        ips.add(h.ip)
        macs.add(h.mac)


def _distinct(nets: Iterable[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
    return list(dict.fromkeys(nets))
