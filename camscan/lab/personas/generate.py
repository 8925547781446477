"""Benchmark offices: the bundled personas replicated over a subnet with fresh IPs, MACs and
serials (vendor MAC prefixes kept), about one device in five a non-camera decoy."""

from __future__ import annotations

import copy
import ipaddress
import random

from camscan.errors import DataError
from camscan.lab.personas.loader import load_personas
from camscan.lab.personas.model import Persona, build_persona

DECOY_SHARE = 0.2


def generate_office(n: int, subnet: str, seed: int = 0) -> list[Persona]:
    """`n` personas spread over `subnet` (its first host is left for the scanner).

    Deterministic for a given (n, subnet, seed). Every office persona is used round-robin,
    so n >= the office size contains each of them at least once."""
    try:
        net = ipaddress.IPv4Network(subnet, strict=False)
    except ValueError as exc:
        raise DataError(f"generate_office: bad subnet {subnet!r}: {exc}") from exc
    hosts = list(net.hosts())[1:]
    if n < 0 or n > len(hosts):
        raise DataError(f"generate_office: {n} devices do not fit in {net} ({len(hosts)} free)")
    office = load_personas()
    cameras = [p for p in office if p.truth["is_surveillance"]]
    decoys = [p for p in office if not p.truth["is_surveillance"]]
    rng = random.Random(seed)
    ips = sorted(rng.sample(hosts, n))
    n_decoys = round(n * DECOY_SHARE) if decoys else 0
    kinds = [True] * n_decoys + [False] * (n - n_decoys)
    rng.shuffle(kinds)
    gateway = str(net.broadcast_address - 1) if net.prefixlen < 31 else str(hosts[0])
    used_macs: set[str] = set()
    out: list[Persona] = []
    counters = {True: 0, False: 0}
    for index, (ip, is_decoy) in enumerate(zip(ips, kinds, strict=True)):
        pool = decoys if is_decoy else cameras
        base = pool[counters[is_decoy] % len(pool)]
        counters[is_decoy] += 1
        spec = copy.deepcopy(base.spec)
        spec["name"] = f"{base.name}-{index + 1:04d}"
        spec["ip"] = str(ip)
        spec["mac"] = _fresh_mac(base.mac, rng, used_macs)
        spec["prefix"] = net.prefixlen
        spec["gateway"] = gateway
        device = dict(spec.get("device") or {})
        device.pop("uuid", None)
        if "serial" in device and "${" not in str(device["serial"]):
            device["serial"] = _reserial(str(device["serial"]), index + 1)
        spec["device"] = device
        out.append(build_persona(spec, f"generate_office(n={n}, subnet={net}, seed={seed})"))
    return out


def _fresh_mac(template_mac: str, rng: random.Random, used: set[str]) -> str:
    prefix = template_mac.lower()[:8]
    while True:
        tail = rng.getrandbits(24)
        mac = f"{prefix}:{tail >> 16:02x}:{(tail >> 8) & 0xFF:02x}:{tail & 0xFF:02x}"
        if mac not in used:
            used.add(mac)
            return mac


def _reserial(serial: str, index: int) -> str:
    digits = f"{index:06d}"
    if len(serial) >= 10:
        return serial[: -len(digits)] + digits
    return serial + digits
