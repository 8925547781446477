"""What a scan would conclude about a host that showed only the given evidence: every claim
of every rule and lexicon, fused exactly as a scan fuses a host (`camscan match`, the
real-world development set)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from camscan.fingerprint.engine import Engine
from camscan.fusion import HostEvidence, fuse_host, normalise_mac
from camscan.model import Device, Evidence

HOST_IP = "192.0.2.1"  # TEST-NET-1: a placeholder address, never contacted


def identify(items: Sequence[tuple[str, str]], engine: Engine) -> Device:
    """Fuse (protocol, value) pairs seen from one host into its Device."""
    evidence = []
    mac = None
    for protocol, value in items:
        ev_mac = normalise_mac(value) if protocol == "mac" else None
        mac = mac or ev_mac
        evidence.append(
            Evidence(module="match", protocol=protocol, value=value, ip=HOST_IP, mac=ev_mac)
        )
    host = HostEvidence(key="match", ip=HOST_IP, mac=mac, items=evidence)
    return fuse_host(host, engine)


def verdict(device: Device) -> dict[str, Any]:
    """The identification fields of a fused device, with the rules behind them."""
    support = [c for c in device.claims if c.manufacturer and c.manufacturer == device.manufacturer]
    if not support:
        support = [c for c in device.claims if c.device_type == device.device_type]
    top = max(support, key=lambda c: c.confidence, default=None)
    return {
        "manufacturer": device.manufacturer,
        "brand": device.brand,
        "model": device.model,
        "firmware": device.firmware,
        "serial": device.serial,
        "device_type": device.device_type,
        "is_surveillance": device.is_surveillance,
        "confidence": round(device.confidence, 3),
        "mac_vendor": device.mac_vendor,
        "rule": top.rule if top else None,
        "rules": sorted({c.rule for c in device.claims}),
        "notes": list(device.notes),
    }
