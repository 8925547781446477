"""The data model: raw observations (Evidence), what rules conclude (Claim), the fused
per-host view (Device) and a whole run (ScanResult).

Evidence is kept apart from the merged Device view (the IVRE split): a Device carries the
evidence it was built from, so every conclusion can be traced back to what was seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

DEVICE_TYPES = ("camera", "nvr", "dvr", "encoder", "doorbell", "other", "unknown")
CLAIM_FIELDS = ("manufacturer", "brand", "model", "firmware", "serial", "device_type")
SCHEMA_ID = "camscan/device-list"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Evidence:
    """One thing a discovery module (or a packet) showed about one host."""

    module: str
    protocol: str
    value: str
    ip: str | None = None
    mac: str | None = None
    port: int | None = None
    transport: str | None = None
    source: str | None = None  # e.g. the URL or the packet's source, for humans
    observed_at: float = field(default_factory=time.time)
    packet: int | None = None  # passive mode: packet number in the capture

    def to_json(self, rule: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "module": self.module,
            "protocol": self.protocol,
            "port": self.port,
            "value": self.value,
            "rule": rule,
            "observed_at": _iso(self.observed_at),
        }
        if self.source:
            out["source"] = self.source
        if self.packet is not None:
            out["packet"] = self.packet
        return out


@dataclass(frozen=True, slots=True)
class Claim:
    """What one rule concludes from one piece of evidence."""

    rule: str
    confidence: float
    manufacturer: str | None = None
    brand: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    device_type: str | None = None
    is_surveillance: bool | None = None
    evidence: Evidence | None = None

    def fields(self) -> dict[str, str]:
        return {f: v for f in CLAIM_FIELDS if (v := getattr(self, f)) is not None}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f: getattr(self, f) for f in CLAIM_FIELDS}
        out["is_surveillance"] = self.is_surveillance
        out["confidence"] = round(self.confidence, 3)
        out["rule"] = self.rule
        return out


@dataclass(slots=True)
class Service:
    port: int
    transport: str = "tcp"
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "transport": self.transport, "name": self.name}


@dataclass(slots=True)
class Vulnerability:
    id: str
    reason: str
    status: str = "affected"  # affected | possibly-affected

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "status": self.status}


@dataclass(slots=True)
class Replacement:
    priority: int
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"priority": self.priority, "reasons": list(self.reasons)}


@dataclass(slots=True)
class Device:
    """The fused view of one host."""

    ip: str | None
    mac: str | None = None
    mac_vendor: str | None = None  # the IEEE registrant of the MAC, as nmap shows it
    hostname: str | None = None
    manufacturer: str | None = None
    brand: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    device_type: str = "unknown"
    is_surveillance: bool = False
    confidence: float = 0.0
    services: list[Service] = field(default_factory=list)
    evidence: list[tuple[Evidence, str | None]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    restricted_by: list[str] = field(default_factory=list)
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    replacement: Replacement | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "mac": self.mac,
            "mac_vendor": self.mac_vendor,
            "hostname": self.hostname,
            "manufacturer": self.manufacturer,
            "brand": self.brand,
            "model": self.model,
            "firmware": self.firmware,
            "serial": self.serial,
            "device_type": self.device_type,
            "is_surveillance": self.is_surveillance,
            "confidence": round(self.confidence, 3),
            "services": [s.to_json() for s in self.services],
            "evidence": [ev.to_json(rule) for ev, rule in self.evidence],
            "restricted_by": list(self.restricted_by),
            "vulnerabilities": [v.to_json() for v in self.vulnerabilities],
            "replacement": self.replacement.to_json() if self.replacement else None,
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class ScanInfo:
    mode: str  # active | passive
    targets: list[str]
    modules: list[str]
    policy: list[str]
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    partial: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from camscan import __version__

        return {
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at or time.time()),
            "camscan_version": __version__,
            "mode": self.mode,
            "targets": list(self.targets),
            "modules": list(self.modules),
            "policy": list(self.policy),
            "partial": self.partial,
            "warnings": list(self.warnings),
        }


@dataclass(slots=True)
class ScanResult:
    scan: ScanInfo
    devices: list[Device] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_manufacturer: dict[str, int] = {}
        for d in self.devices:
            if d.is_surveillance or d.manufacturer:
                key = d.manufacturer or "unknown"
                by_manufacturer[key] = by_manufacturer.get(key, 0) + 1
        return {
            "total": len(self.devices),
            "surveillance": sum(1 for d in self.devices if d.is_surveillance),
            "restricted": sum(1 for d in self.devices if d.restricted_by),
            "by_manufacturer": dict(
                sorted(by_manufacturer.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "schema_version": SCHEMA_VERSION,
            "scan": self.scan.to_json(),
            "devices": [d.to_json() for d in self.devices],
            "summary": self.summary(),
        }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
