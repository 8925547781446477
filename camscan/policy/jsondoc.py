"""Device-list JSON -> model objects, so a saved list can be re-evaluated with the same code
that evaluates a fresh scan."""

from __future__ import annotations

import datetime as dt
from typing import Any

from camscan.model import DEVICE_TYPES, Device, Evidence, Replacement, Service, Vulnerability


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _timestamp(value: Any) -> float:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return 0.0


def evidence_from_json(
    e: dict[str, Any], ip: str | None, mac: str | None
) -> tuple[Evidence, str | None]:
    port = e.get("port")
    packet = e.get("packet")
    ev = Evidence(
        module=str(e.get("module", "")),
        protocol=str(e.get("protocol", "")),
        value=str(e.get("value", "")),
        ip=ip,
        mac=mac,
        port=port if isinstance(port, int) else None,
        source=_text(e.get("source")),
        observed_at=_timestamp(e.get("observed_at")),
        packet=packet if isinstance(packet, int) else None,
    )
    return ev, _text(e.get("rule"))


def device_from_json(d: dict[str, Any]) -> Device:
    """Rebuild a Device from one entry of a (validated) device list. Claims are not part of the
    JSON and stay empty."""
    ip, mac = _text(d.get("ip")), _text(d.get("mac"))
    dtype = d.get("device_type")
    rep = d.get("replacement")
    conf = d.get("confidence")
    return Device(
        ip=ip,
        mac=mac,
        mac_vendor=_text(d.get("mac_vendor")),
        hostname=_text(d.get("hostname")),
        manufacturer=_text(d.get("manufacturer")),
        brand=_text(d.get("brand")),
        model=_text(d.get("model")),
        firmware=_text(d.get("firmware")),
        serial=_text(d.get("serial")),
        device_type=dtype if dtype in DEVICE_TYPES else "unknown",
        is_surveillance=d.get("is_surveillance") is True,
        confidence=float(conf) if isinstance(conf, int | float) else 0.0,
        services=[
            Service(int(s["port"]), str(s.get("transport", "tcp")), _text(s.get("name")))
            for s in d.get("services") or []
            if isinstance(s, dict) and isinstance(s.get("port"), int)
        ],
        evidence=[
            evidence_from_json(e, ip, mac) for e in d.get("evidence") or [] if isinstance(e, dict)
        ],
        restricted_by=[r for r in d.get("restricted_by") or [] if isinstance(r, str)],
        vulnerabilities=[
            Vulnerability(str(v.get("id")), str(v.get("reason", "")), v.get("status", "affected"))
            for v in d.get("vulnerabilities") or []
            if isinstance(v, dict)
        ],
        replacement=(
            Replacement(int(rep["priority"]), [str(r) for r in rep.get("reasons") or []])
            if isinstance(rep, dict) and isinstance(rep.get("priority"), int)
            else None
        ),
        notes=[n for n in d.get("notes") or [] if isinstance(n, str)],
    )
