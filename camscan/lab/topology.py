"""The lab's shape as data: which namespaces, links, addresses, routes and rules to create.

Pure code (no processes, no sockets): `Topology` validates the caller's hosts and renders the
`ip -batch` scripts that `camscan.lab.netns.Lab` feeds to iproute2, one script per namespace.

Layout (design (b) of the lab recipe):

    scanner ns                  bridge ns                      devices ns
    eth0 (02:00:xx:xx:xx:01) ── s-scan ─┐               ┌─ up0 (veth, no address)
    scanner_ip/<subnet prefix>         br0 ── v-dev ─────┘     ├─ m1 macvlan, host 1 MAC, ip/32
                                                              ├─ m2 ...
                                                              └─ mN

With `routed` (a network such as 198.19.0.0/16), hosts inside it sit behind a router:

    bridge ns br0 ── s-rt ── r-lan (router ns, last address of the lab subnet)
    router ns r-vlan (.1 of every routed host's network) ── up1 (devices ns) ─ macvlans

The scanner routes `routed` via the router. The router is connected to each routed host's
network (its prefix: a VLAN, /24 by default) and answers like a real one: an address of such
a network that nobody has gets ARP, then ICMP host unreachable when ARP fails (after about
3 s); an address of `routed` in no such network gets ICMP net unreachable at once; both are
rate-limited as Linux does by default (about one a second towards the scanner). The router
knows its live devices' MACs (permanent entries: they talk often), and has no default route:
nothing leaves the lab.

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
ROUTED_UPLINK_IF = "up1"  # devices ns side of the router's VLAN link
ROUTER_LAN_IF = "r-lan"
ROUTER_VLAN_IF = "r-vlan"
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
    router: str = ""  # empty without a routed network; runs before `devices` (it makes up1)


@dataclass(frozen=True)
class Topology:
    """A validated lab plan. Build with `Topology.plan(...)`."""

    stem: str
    subnet: ipaddress.IPv4Network
    scanner_ip: ipaddress.IPv4Address
    hosts: tuple[LabHost, ...]
    routed: ipaddress.IPv4Network | None = None

    @classmethod
    def plan(
        cls,
        hosts: Sequence[LabHost],
        subnet: str,
        scanner_ip: str | None,
        stem: str,
        routed: str | None = None,
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
        behind = _network(routed, "routed network") if routed else None
        top = cls(stem=stem, subnet=net, scanner_ip=scan, hosts=checked, routed=behind)
        if behind is not None:
            _check_routed(top, behind)
        return top

    # routing ----------------------------------------------------------------------------
    def is_routed(self, host: LabHost) -> bool:
        return self.routed is not None and ipaddress.IPv4Address(host.ip) in self.routed

    @property
    def router_ns(self) -> str:
        return f"{self.stem}-rt"

    @property
    def router_lan_ip(self) -> ipaddress.IPv4Address:
        """The router's address on the scanner's subnet: its last usable one."""
        return self.subnet.broadcast_address - 1

    @property
    def router_mac(self) -> str:
        """MAC of the router's VLAN side (the routed devices know it: permanent entries)."""
        return self.scanner_mac[:-2] + "fe"

    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        """The VLANs the router is attached to: the networks of the routed hosts."""
        return _distinct(h.network for h in self.hosts if self.is_routed(h))

    @staticmethod
    def gateway(net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
        """The router's address in a routed network (its first)."""
        return net.network_address + 1

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
    def namespaces(self) -> tuple[str, ...]:
        """Creation order; teardown goes the other way round."""
        base = (self.bridge_ns, self.scanner_ns, self.devices_ns)
        return (*base, self.router_ns) if self.routed is not None else base

    @property
    def scanner_mac(self) -> str:
        """Locally administered, derived from the stem so two labs never share it."""
        digest = hashlib.blake2b(self.stem.encode(), digest_size=3).hexdigest()
        return "02:00:" + ":".join(digest[i : i + 2] for i in (0, 2, 4)) + ":01"

    def _static_neighbours(self, host: LabHost) -> list[tuple[str, str]]:
        bcast = "ff:ff:ff:ff:ff:ff"
        if self.is_routed(host):
            first = (str(self.gateway(host.network)), self.router_mac)
            nets = [host.network]
        else:
            first = (str(self.scanner_ip), self.scanner_mac)
            nets = _distinct((host.network, self.subnet))
        found = [first, ("255.255.255.255", bcast)]
        found += [(str(n.broadcast_address), bcast) for n in nets if n.prefixlen < 31]
        found += [(g, _multicast_mac(g)) for g in DISCOVERY_GROUPS]
        return found

    @staticmethod
    def ifname(index: int) -> str:
        """Name of host number `index` (0-based position in `hosts`) in the devices ns."""
        return f"m{index + 1}"

    def extra_networks(self) -> list[ipaddress.IPv4Network]:
        """Host subnets that the lab subnet does not cover (on-link routes for the scanner)."""
        return [
            n
            for n in _distinct(h.network for h in self.hosts if not self.is_routed(h))
            if not n.subnet_of(self.subnet)
        ]

    # scripts ----------------------------------------------------------------------------
    def batches(self) -> Batches:
        return Batches(
            root="".join(f"netns add {ns}\n" for ns in self.namespaces),
            bridge=self._bridge_batch(),
            scanner=self._scanner_batch(),
            devices=self._devices_batch(),
            router=self._router_batch(),
        )

    def _router_batch(self) -> str:
        if self.routed is None:
            return ""
        lines = [
            "link set lo up",
            f"addr add {self.router_lan_ip}/{self.subnet.prefixlen} dev {ROUTER_LAN_IF}",
            f"link set {ROUTER_LAN_IF} up",
            f"link add {ROUTER_VLAN_IF} type veth peer name {ROUTED_UPLINK_IF}"
            f" netns {self.devices_ns}",
            f"link set {ROUTER_VLAN_IF} address {self.router_mac}",
        ]
        lines += [
            f"addr add {self.gateway(n)}/{n.prefixlen} dev {ROUTER_VLAN_IF}"
            for n in self.routed_networks()
        ]
        lines.append(f"link set {ROUTER_VLAN_IF} up")
        lines += [
            f"neigh add {h.ip} lladdr {h.mac} dev {ROUTER_VLAN_IF} nud permanent"
            for h in self.hosts
            if self.is_routed(h)
        ]
        return "\n".join(lines) + "\n"

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
        ) + (
            f"link add s-rt type veth peer name {ROUTER_LAN_IF} netns {self.router_ns}\n"
            f"link set s-rt master {BRIDGE_IF} up\n"
            if self.routed is not None
            else ""
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
        if self.routed is not None:
            lines.append(f"route add {self.routed} via {self.router_lan_ip} dev {dev}")
        return "\n".join(lines) + "\n"

    def _devices_batch(self) -> str:
        lines = [
            "link set lo up",
            f"link set {UPLINK_IF} up",
            *([f"link set {ROUTED_UPLINK_IF} up"] if self.routed is not None else []),
            # Frames coming in need no per-host table. Without this rule each of the N copies
            # of a broadcast for a non-lab address (an ARP request for an empty address) walked
            # all N "from" rules: after a /21 ARP sweep, 1,000 devices stayed busy for 6 s.
            f"rule add not iif lo table main pref {FIRST_TABLE - 1}",
        ]
        for i, host in enumerate(self.hosts):
            dev, table = self.ifname(i), FIRST_TABLE + i
            routed = self.is_routed(host)
            lines += [
                f"link add {dev} link {ROUTED_UPLINK_IF if routed else UPLINK_IF}"
                f" address {host.mac} type macvlan mode private bcqueuelen {BCAST_QUEUE}",
                f"addr add {host.ip}/32 dev {dev}",
                f"link set {dev} up",
            ]
            if routed:
                gw = self.gateway(host.network)
                lines += [
                    f"route add {host.network} dev {dev} src {host.ip} table {table}",
                    f"route add {self.subnet} via {gw} dev {dev} src {host.ip} table {table}",
                ]
            else:
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


def _check_routed(top: Topology, routed: ipaddress.IPv4Network) -> None:
    if routed.overlaps(top.subnet):
        raise LabError(f"the routed network {routed} overlaps the lab subnet {top.subnet}")
    if top.subnet.prefixlen > 29:
        raise LabError(f"lab subnet {top.subnet} leaves no room for the router")
    taken = {h.ip for h in top.hosts} | {str(top.scanner_ip)}
    if str(top.router_lan_ip) in taken:
        raise LabError(f"{top.router_lan_ip} is the router's address on {top.subnet}")
    for h in top.hosts:
        if not top.is_routed(h):
            if h.network.overlaps(routed):
                raise LabError(f"lab host {h.ip}: its subnet {h.network} overlaps {routed}")
            continue
        if not h.network.subnet_of(routed) or h.network.prefixlen > 29:
            raise LabError(f"routed host {h.ip}: its network {h.network} must be a /29 or "
                           f"larger inside {routed}")  # fmt: skip
    for n in top.routed_networks():
        if str(top.gateway(n)) in taken:
            raise LabError(f"{top.gateway(n)} is the router's address in {n}")


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
