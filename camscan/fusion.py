"""Evidence -> one Device per host.

Evidence is grouped per host (by MAC where known, else IP). Each item is matched by the
engine in the context of its host. Claims that agree combine: evidence from independent
protocols adds up (1 - prod(1 - c), counting each protocol once), so MAC + SADP + HTTP agreeing
is stronger than any alone. The strongest value wins field by field; losing manufacturers stay
visible as notes and in the evidence.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from camscan.fingerprint.bridges import bridged
from camscan.fingerprint.engine import Engine, mac_hex, mac_registrant
from camscan.fingerprint.rules import SURVEILLANCE_TYPES, Vendors
from camscan.model import Claim, Device, Evidence, Service

MAX_EVIDENCE_PER_DEVICE = 300
CONFLICT_FLOOR = 0.5  # a losing manufacturer at least this strong is reported as a conflict
SERVICE_NAMES = {
    21: "ftp", 22: "ssh", 23: "telnet", 80: "http", 81: "http", 88: "http", 443: "https",
    554: "rtsp", 631: "ipp", 1900: "ssdp", 3702: "ws-discovery", 5000: "http", 5001: "https",
    5353: "mdns", 7001: "http", 8000: "hikvision-sdk", 8080: "http", 8081: "http",
    8443: "https", 8554: "rtsp", 8899: "onvif", 9000: "reolink-baichuan", 34567: "xiongmai-dvrip",
    37020: "hikvision-sadp", 37777: "dahua-dvrip", 37810: "dahua-discovery",
}  # fmt: skip


@dataclass(slots=True)
class HostEvidence:
    key: str
    ip: str | None = None
    mac: str | None = None
    items: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def normalise_mac(mac: str | None) -> str | None:
    h = mac_hex(mac or "")
    if not h or h in ("000000000000", "FFFFFFFFFFFF"):
        return None
    return ":".join(h[i : i + 2] for i in range(0, 12, 2)).lower()


def group_by_host(evidence: Iterable[Evidence]) -> list[HostEvidence]:
    """Group evidence per host: by MAC where the MAC is seen on the segment and names one
    host, else by IP.

    The link layer (protocol `mac`: ARP, DHCP, frames) says which MAC an address has. That MAC
    is the host's identity only when it names one host: a MAC the link layer shows for several
    IPv4 addresses (a router or proxy ARP answering for the hosts behind it) names none of
    them, and each address stays a device of its own. A MAC an answer states in its payload
    (SADP, Dahua, vendor discovery) is only a claim: it never merges two addresses. It may
    stand as the device's MAC where the link layer shows none and no other address has it;
    when it contradicts the link layer's MAC for the address the answer came from, the answer
    stays with that address and the contradiction becomes a note (a liar, or a duplicate)."""
    items = list(evidence)
    bound: dict[str, set[str]] = defaultdict(set)  # ip -> MACs the link layer shows
    stated: dict[str, set[str]] = defaultdict(set)  # ip -> MACs payloads state
    for ev in items:
        mac = normalise_mac(ev.mac)
        if ev.ip and mac:
            (bound if ev.protocol == "mac" else stated)[ev.ip].add(mac)
    owners = _link_owners(bound)
    owner = {mac: ips[0] for mac, ips in owners.items() if len(ips) == 1}
    shared = {mac for mac, ips in owners.items() if _ipv4_count(ips) > 1}
    hosts: dict[str, HostEvidence] = {}
    lies: dict[str, dict[str, None]] = defaultdict(dict)  # ip -> notes, in order, once
    for ev in items:
        mac = normalise_mac(ev.mac)
        if ev.ip:
            link = bound.get(ev.ip, set())
            if mac is not None and ev.protocol != "mac":
                note = _stated_note(ev, mac, link, owners, stated)
                if note:
                    lies[ev.ip][note] = None
            if ev.protocol == "mac" and mac is not None and mac not in shared:
                key_mac: str | None = mac  # one of the address's own link MACs
            else:
                ident = link - shared
                key_mac = next(iter(ident)) if len(link) == 1 and ident else None
        else:
            key_mac = mac  # no address (a DHCP request before its lease): by MAC alone
        if key_mac is not None:
            key = f"mac:{key_mac}"
        elif ev.ip:
            key = f"ip:{ev.ip}"
        else:
            continue
        host = hosts.get(key)
        if host is None:
            host = hosts[key] = HostEvidence(key=key, mac=key_mac)
        if ev.ip and _better_ip(ev, host.ip):
            host.ip = ev.ip
        host.items.append(ev)
    for host in hosts.values():
        if host.mac is None and host.ip:
            host.mac = _stated_mac(host.ip, bound, stated, owner)
        host.notes.extend(n for n in lies.get(host.ip or "", ()) if n not in host.notes)
        shown = bound.get(host.ip or "", set()) & shared
        for mac in sorted(shown):
            note = _shared_note(mac, owners[mac])
            if note not in host.notes:
                host.notes.append(note)
    return list(hosts.values())


def _link_owners(bound: Mapping[str, set[str]]) -> dict[str, list[str]]:
    """MAC -> the addresses the link layer shows it for, in order."""
    owners: dict[str, list[str]] = defaultdict(list)
    for ip, macs in bound.items():
        for mac in macs:
            owners[mac].append(ip)
    return owners


def _ipv4_count(ips: Iterable[str]) -> int:
    return sum(1 for ip in ips if ":" not in ip)


def _stated_mac(
    ip: str,
    bound: Mapping[str, set[str]],
    stated: Mapping[str, set[str]],
    owner: Mapping[str, str],
) -> str | None:
    """The MAC to show for an address the link layer gives none of its own: the one its
    answers state, when they state one and no other address has it (stated or seen)."""
    if bound.get(ip):
        return None
    macs = stated.get(ip, set())
    if len(macs) != 1:
        return None
    mac = next(iter(macs))
    if mac in owner and owner[mac] != ip:
        return None
    if any(mac in other for other_ip, other in stated.items() if other_ip != ip):
        return None
    return mac


def _stated_note(
    ev: Evidence,
    mac: str,
    link: set[str],
    owners: Mapping[str, list[str]],
    stated: Mapping[str, set[str]],
) -> str | None:
    """What is wrong with a MAC an answer states (None when nothing is)."""
    ip = ev.ip or ""
    # the other addresses the link layer shows this MAC for, IPv4 first
    seen = sorted((o for o in owners.get(mac, ()) if o != ip), key=lambda o: ":" in o)
    if link:
        return None if mac in link else _lie_note(ev, mac, link, seen[0] if seen else None)
    if seen:
        return f"{ev.protocol} answer states MAC {mac}, the MAC of {seen[0]}"
    also = sorted(o for o, macs in stated.items() if o != ip and mac in macs)
    if also:
        return f"{ev.protocol} answer states MAC {mac}, which {also[0]} also states"
    return None


def _shared_note(mac: str, ips: Sequence[str]) -> str:
    n = _ipv4_count(ips)
    return (
        f"MAC {mac} is seen for {n} addresses (a router, or proxy ARP): "
        "not taken as this device's identity"
    )


def _better_ip(ev: Evidence, current: str | None) -> bool:
    """Whether the item's address should name the host instead of `current`: an IPv4
    address beats an IPv6 one (a device on both is listed by its IPv4 address); within a
    family the latest wins, unless it comes from an SADP or Dahua answer (an address the
    payload states)."""
    if current is None:
        return True
    new_v6, current_v6 = ":" in (ev.ip or ""), ":" in current
    if new_v6 != current_v6:
        return current_v6
    return ev.module not in ("sadp", "dahua")


def _lie_note(ev: Evidence, mac: str, link: set[str], other_ip: str | None) -> str:
    where = f", the MAC of {other_ip}" if other_ip and other_ip != ev.ip else ""
    return (
        f"{ev.protocol} answer states MAC {mac}{where}; this address has {', '.join(sorted(link))}"
    )


def _combine(claims: Iterable[tuple[Claim, str]]) -> float:
    """Noisy-OR over protocols: each protocol counts once, with its strongest claim."""
    best: dict[str, float] = {}
    for claim, protocol in claims:
        best[protocol] = max(best.get(protocol, 0.0), claim.confidence)
    p_wrong = 1.0
    for c in best.values():
        p_wrong *= 1.0 - c
    return 1.0 - p_wrong


def _ranked(claims: Sequence[tuple[Claim, str]], attr: str) -> list[tuple[str, float]]:
    groups: dict[str, list[tuple[Claim, str]]] = defaultdict(list)
    canon: dict[str, str] = {}
    for claim, protocol in claims:
        value = getattr(claim, attr)
        if value is None or value == "unknown":
            continue
        folded = str(value).casefold()
        canon.setdefault(folded, str(value))
        groups[folded].append((claim, protocol))
    ranked = [(canon[k], _combine(v)) for k, v in groups.items()]
    # On a tie the fuller value wins: 'XM530_R80X20-PQ' (ONVIF Model) over 'XM530' (family).
    ranked.sort(key=lambda kv: (-round(kv[1], 9), -len(kv[0]), kv[0]))
    return ranked


def _resolve_brands(claims: list[tuple[Claim, str]], vendors: Vendors, notes: list[str]) -> None:
    """A claim naming a brand but no maker gets the maker from the brand table."""
    extra = []
    for claim, protocol in claims:
        if claim.brand is None or claim.manufacturer is not None:
            continue
        info = vendors.brands.get(claim.brand)
        if info is not None:
            if info.varies_by_model or info.manufacturer is None:
                note = f"maker of brand {claim.brand} varies by model: verify"
                if note not in notes:
                    notes.append(note)
                continue
            conf = claim.confidence * info.confidence
            man = info.manufacturer
        elif claim.brand in vendors.manufacturers:
            conf = claim.confidence
            man = claim.brand
        else:
            continue
        derived = Claim(
            rule=f"{claim.rule}+brand",
            confidence=conf,
            manufacturer=man,
            brand=claim.brand,
            device_type=claim.device_type,
            is_surveillance=claim.is_surveillance,
            evidence=claim.evidence,
        )
        extra.append((derived, protocol))
    claims.extend(extra)


def fuse_host(host: HostEvidence, engine: Engine) -> Device:
    pairs = [(ev.protocol, ev.value) for ev in host.items]
    spec = engine.lexicon.fields.bridges if engine.lexicon is not None else None
    others = bridged(pairs, spec)
    seen: set[tuple[str, str, str, int | None]] = set()
    device = Device(ip=host.ip, mac=host.mac, notes=list(host.notes))
    if others:
        device.notes.append(
            "announces devices it bridges (a HomeKit bridge): their names and models are not this host's"
        )
    device.mac_vendor = mac_registrant(host.mac) or None if host.mac else None
    claims: list[tuple[Claim, str]] = []
    ports: dict[tuple[int, str], Service] = {}
    for ev in host.items:
        ident = (ev.module, ev.protocol, ev.value, ev.port)
        if ident in seen:
            continue
        seen.add(ident)
        found = [] if (ev.protocol, ev.value) in others else engine.match(ev, pairs)
        best = max(found, key=lambda c: c.confidence).rule if found else None
        if len(device.evidence) < MAX_EVIDENCE_PER_DEVICE:
            device.evidence.append((ev, best))
        claims.extend((c, ev.protocol) for c in found)
        device.claims.extend(found)
        _collect_service(ev, ports)
        if ev.protocol == "dhcp_hostname" and not device.hostname:
            device.hostname = ev.value
    if len(seen) > MAX_EVIDENCE_PER_DEVICE:
        device.notes.append(f"{len(seen)} evidence items; kept the first {MAX_EVIDENCE_PER_DEVICE}")
    device.services = sorted(ports.values(), key=lambda s: (s.transport, s.port))
    _resolve_brands(claims, engine.vendors, device.notes)
    _decide(device, claims)
    return device


def _collect_service(ev: Evidence, ports: dict[tuple[int, str], Service]) -> None:
    port, transport = ev.port, ev.transport or "tcp"
    if ev.protocol == "open_port":
        num, _, proto = ev.value.partition("/")
        if not num.isdigit():
            return
        port, transport = int(num), proto or "tcp"
    elif transport != "tcp":
        return
    if port is None or not 0 <= port <= 65535:
        return
    ports.setdefault((port, transport), Service(port, transport, SERVICE_NAMES.get(port)))


def _decide(device: Device, claims: list[tuple[Claim, str]]) -> None:
    men = _ranked(claims, "manufacturer")
    winner = men[0][0] if men else None
    device.manufacturer = winner
    for other, score in men[1:]:
        if score >= CONFLICT_FLOOR:
            device.notes.append(f"conflicting evidence also names {other} ({score:.2f})")
    consistent = [(c, p) for c, p in claims if c.manufacturer in (None, winner)]
    for attr in ("brand", "model", "firmware", "serial"):
        ranked = _ranked(consistent, attr)
        setattr(device, attr, ranked[0][0] if ranked else None)
    if device.brand is None and winner is not None:
        # No relabel sign seen: the label is taken to be the maker's own.
        device.brand = winner
    yes = _combine((c, p) for c, p in claims if c.is_surveillance is True)
    no = _combine((c, p) for c, p in claims if c.is_surveillance is False)
    device.is_surveillance = yes > no
    types = _ranked(consistent, "device_type")
    dtype = types[0][0] if types else "unknown"
    if device.is_surveillance and dtype not in SURVEILLANCE_TYPES:
        dtype = next((t for t, _ in types if t in SURVEILLANCE_TYPES), "unknown")
    elif not device.is_surveillance and dtype in SURVEILLANCE_TYPES:
        dtype = "other" if no > 0 else "unknown"
    device.device_type = dtype
    if winner is not None:
        device.confidence = men[0][1]
    else:
        device.confidence = max(yes, no)


def fuse(evidence: Iterable[Evidence], engine: Engine) -> list[Device]:
    devices = [fuse_host(h, engine) for h in group_by_host(evidence)]
    devices.sort(key=_sort_key)
    return devices


def attach_notes(
    devices: list[Device], notes: Mapping[str, Sequence[str]], in_scope: Callable[[str], bool]
) -> list[Device]:
    """Add each host's notes (ScanContext.note) to its device; a host that has notes but no
    device (it sent nothing camscan could read) gets a bare one. Returns the new devices;
    `devices` stays sorted."""
    by_ip: dict[str, Device] = {}
    for d in devices:
        if d.ip is not None:
            by_ip.setdefault(d.ip, d)
    added = []
    for ip, texts in notes.items():
        device = by_ip.get(ip)
        if device is None:
            if not in_scope(ip):
                continue
            device = by_ip[ip] = Device(ip=ip)
            added.append(device)
        device.notes.extend(t for t in texts if t not in device.notes)
    if added:
        devices.extend(added)
        devices.sort(key=_sort_key)
    return added


def _sort_key(d: Device) -> tuple[int, int, str]:
    try:
        return (0, int(ipaddress.ip_address(d.ip or "")), d.mac or "")
    except ValueError:
        return (1, 0, d.mac or d.ip or "")
