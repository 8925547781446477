"""Generated fleets for the inventory's tests and benchmark: sites scanned quarter after
quarter, with restricted cameras replaced and a few appearing, as device lists that are valid
against the schema and assessed by the real policy code."""

from __future__ import annotations

import random
from typing import Any

from camscan.model import Device, Evidence, ScanInfo, ScanResult
from camscan.policy import apply_policy, default_vendors, load_regimes, select_regimes

DAY = 86400.0
QUARTER = 91 * DAY
START = 1_735_689_600.0  # 2025-01-01T00:00:00Z
MAKERS = (
    ("Hikvision", "DS-2CD2143G2-I", "V5.7.3 build 220112", "camera"),
    ("Dahua", "IPC-HFW2431S", "V2.800.0000000.21.R", "camera"),
    ("Hikvision", "DS-7608NI-K2", "V4.30.085", "nvr"),
    ("Axis", "P3245-LVE", "10.12.130", "camera"),
    ("Hanwha Vision", "XNV-6080R", "2.21.02", "camera"),
    ("Bosch", "FLEXIDOME IP 5000i", "7.80.0128", "camera"),
)
REPLACEMENTS = MAKERS[3:]


def _mac(rng: random.Random) -> str:
    return "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))


def _device(ip: str, mac: str, maker: tuple[str, str, str, str], serial: str) -> Device:
    name, model, firmware, dtype = maker
    d = Device(
        ip,
        mac=mac,
        manufacturer=name,
        brand=name,
        model=model,
        firmware=firmware,
        serial=serial,
        device_type=dtype,
        is_surveillance=True,
        confidence=0.95,
    )
    d.evidence = [(Evidence("arp", "mac", mac, ip=ip, mac=mac, observed_at=START), None)]
    return d


def fleet(
    sites: int, quarters: int, devices: int, *, seed: int = 0, churn: float = 0.08
) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(site name, [one device list per quarter])]. Each quarter `churn` of the restricted
    devices still there are replaced (same address, new MAC and maker), 1% of the devices
    are new restricted cameras, and 1% of the rest miss the scan."""
    rng = random.Random(seed)
    regimes = select_regimes(None, load_regimes())
    vendors = default_vendors()
    out = []
    for s in range(sites):
        name = f"site-{s + 1:03d}"
        fleet_now: list[tuple[str, str, tuple[str, str, str, str], str]] = []
        for i in range(devices):
            ip = f"10.{s % 250}.{i // 250}.{i % 250 + 1}"
            maker = MAKERS[rng.randrange(len(MAKERS))]
            fleet_now.append((ip, _mac(rng), maker, f"SN{s:03d}{i:05d}"))
        docs = []
        for q in range(quarters):
            if q:
                for k, (ip, _old_mac, maker, _sn) in enumerate(fleet_now):  # noqa: B007
                    if maker[0] in ("Hikvision", "Dahua") and rng.random() < churn:
                        new = REPLACEMENTS[rng.randrange(len(REPLACEMENTS))]
                        fleet_now[k] = (ip, _mac(rng), new, f"R{s:03d}{q}{k:05d}")
                for k in rng.sample(range(len(fleet_now)), max(1, devices // 100)):
                    ip = fleet_now[k][0]
                    fleet_now[k] = (ip, _mac(rng), MAKERS[0], f"N{s:03d}{q}{k:05d}")
            seen = [f for f in fleet_now if q == 0 or rng.random() >= 0.01]
            devs = [_device(ip, mac, maker, sn) for ip, mac, maker, sn in seen]
            apply_policy(devs, regimes, vendors)
            started = START + q * QUARTER + s * 3600.0
            info = ScanInfo("active", [f"10.{s % 250}.0.0/20"], ["arp"], [r.id for r in regimes],
                            started, started + 30.0)  # fmt: skip
            docs.append(ScanResult(info, devs).to_json())
        out.append((name, docs))
    return out
