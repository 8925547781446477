"""Targets, exclusions and the scope guard (DESIGN section 6).

By default only private, link-local, CGNAT and benchmarking (198.18.0.0/15) ranges may be
scanned; public addresses need allow_public. Exclusions always win.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from camscan.errors import UsageError

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address

SAFE_RANGES: tuple[Net, ...] = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "198.18.0.0/15",
        "127.0.0.0/8",
    )
)
DEFAULT_MAX_HOSTS = 1024  # a /22
_RANGE = re.compile(r"^(\d+\.\d+\.\d+\.\d+)\s*-\s*(\d+(?:\.\d+\.\d+\.\d+)?)$")


def parse_target(text: str) -> list[Net]:
    """'198.18.0.0/24', '198.18.0.7', '198.18.0.10-20' or '198.18.0.10-198.18.1.5'."""
    spec = text.strip()
    m = _RANGE.match(spec)
    try:
        if m:
            first = Addr(m.group(1))
            last_txt = m.group(2)
            if "." not in last_txt:
                last_txt = m.group(1).rsplit(".", 1)[0] + "." + last_txt
            last = Addr(last_txt)
            if last < first:
                raise UsageError(f"target {text!r}: range ends before it starts")
            return list(ipaddress.summarize_address_range(first, last))
        return [ipaddress.IPv4Network(spec, strict=False)]
    except (ValueError, ipaddress.AddressValueError, ipaddress.NetmaskValueError) as exc:
        raise UsageError(f"target {text!r} is not an IPv4 address, CIDR or range ({exc})") from None


@dataclass(frozen=True, slots=True)
class Scope:
    targets: tuple[Net, ...]
    excludes: tuple[Net, ...] = ()
    allow_public: bool = False

    def allows(self, ip: str) -> bool:
        try:
            addr = Addr(ip)
        except ValueError:
            return False
        if any(addr in n for n in self.excludes):
            return False
        if not any(addr in n for n in self.targets):
            return False
        return self.allow_public or is_safe(addr)

    def addresses(self) -> Iterator[str]:
        """Every host address to probe, in order, exclusions and guard applied."""
        seen: set[int] = set()
        for net in self.targets:
            hosts = [net.network_address] if net.num_addresses == 1 else net.hosts()
            for addr in hosts:
                if int(addr) in seen:
                    continue
                seen.add(int(addr))
                if self.allows(str(addr)):
                    yield str(addr)

    def size(self) -> int:
        return sum(n.num_addresses for n in self.targets)


def is_safe(addr: Addr) -> bool:
    return any(addr in n for n in SAFE_RANGES)


def build_scope(
    targets: Sequence[str],
    excludes: Sequence[str] = (),
    *,
    allow_public: bool = False,
    max_hosts: int | None = None,
) -> Scope:
    nets = [n for t in targets for n in parse_target(t)]
    if not nets:
        raise UsageError("no targets")
    ex = [n for e in excludes for n in parse_target(e)]
    if not allow_public:
        for n in nets:
            if not any(n.subnet_of(s) for s in SAFE_RANGES):
                raise UsageError(
                    f"target {n} is outside private/link-local/CGNAT ranges; "
                    "add --allow-public if you really mean to scan it"
                )
    scope = Scope(tuple(nets), tuple(ex), allow_public)
    limit = max_hosts if max_hosts is not None else 65536
    if scope.size() > limit:
        raise UsageError(f"targets cover {scope.size()} addresses, more than --max-hosts {limit}")
    return scope


@dataclass(frozen=True, slots=True)
class Attachment:
    interface: str
    address: str
    network: Net


def attachments() -> list[Attachment]:
    """IPv4 subnets attached to this network namespace's interfaces (not loopback)."""
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=5
        ).stdout
        data = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return []
    result = []
    for link in data:
        if link.get("ifname") == "lo" or "UP" not in link.get("flags", []):
            continue
        for a in link.get("addr_info", []):
            if a.get("family") != "inet":
                continue
            net = ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
            result.append(Attachment(link["ifname"], a["local"], net))
    return result


def default_route_interface() -> str | None:
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "route", "show", "default"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        routes = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return None
    return routes[0].get("dev") if routes else None


def choose_interface(interface: str | None, targets: Sequence[Net]) -> Attachment | None:
    """The attachment facing the targets: the named interface, else the one whose subnet
    holds the first target, else the default-route interface."""
    atts = attachments()
    if interface:
        named = [a for a in atts if a.interface == interface]
        if not named:
            raise UsageError(f"interface {interface!r} has no IPv4 address here")
        for a in named:
            if any(t.overlaps(a.network) for t in targets):
                return a
        return named[0]
    for t in targets:
        for a in atts:
            if t.overlaps(a.network):
                return a
    dev = default_route_interface()
    return next((a for a in atts if a.interface == dev), None)


def default_targets(interface: str | None, max_hosts: int | None) -> tuple[list[str], str]:
    """The subnets attached to the chosen interface, each capped at max_hosts addresses."""
    dev = interface or default_route_interface()
    if dev is None:
        raise UsageError("no target given and no default route: name targets or --interface")
    atts = [a for a in attachments() if a.interface == dev]
    if not atts:
        raise UsageError(f"interface {dev!r} has no IPv4 address: name targets")
    limit = max_hosts or DEFAULT_MAX_HOSTS
    out = []
    for a in atts:
        net = a.network
        if net.num_addresses > limit:
            prefix = 32 - (limit.bit_length() - 1)
            net = ipaddress.IPv4Network(f"{a.address}/{prefix}", strict=False)
        out.append(str(net))
    return out, dev
