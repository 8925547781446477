"""The Persona record and the `${placeholder}` rendering of a merged persona spec."""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from camscan.lab.personas.schema import PROTOCOL_BLOCKS

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")
_LAB_UUID_NS = uuid.UUID("6f1f2b0e-6c38-4d0b-9a55-0c5a6e1ab001")


@dataclass(frozen=True)
class Credentials:
    """The lab credentials of a persona: the only ones a scanner may use (given by the user)."""

    username: str
    password: str


@dataclass(frozen=True)
class Persona:
    """One emulated device: identity, ground truth and the rendered protocol blocks.

    `services` maps a protocol block name (http, rtsp, onvif, wsd, sadp, dhip, dahua_legacy,
    hanwha, bosch, ubiquiti, mdns, ssdp, tcp) to its rendered configuration; a missing block
    means the device does not speak that protocol. `spec` is the merged, unrendered persona
    (templates applied), kept so generators can re-render it with another IP/MAC/serial."""

    name: str
    ip: str
    mac: str
    prefix: int
    gateway: str
    truth: dict[str, Any]
    hostile: bool
    device: dict[str, str]
    credentials: Credentials | None
    uuid: str
    services: dict[str, Any]
    source: str = "<inline>"
    spec: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    hostile_modes: tuple[str, ...] = ()  # see camscan.lab.devsim.hostile.MODES

    def mode(self, name: str) -> bool:
        """True when the persona misbehaves in this hostile mode."""
        return name in self.hostile_modes

    @property
    def netmask(self) -> str:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{self.prefix}").netmask)

    @property
    def mac_bytes(self) -> bytes:
        return bytes.fromhex(self.mac.replace(":", ""))

    @property
    def raw(self) -> dict[str, Any]:
        """The persona as a self-contained device entry of a persona file (templates merged,
        placeholders not yet rendered): `{"devices": [p.raw, ...]}` loads back to it."""
        return self.spec

    def has(self, block: str) -> bool:
        return block in self.services

    def block(self, name: str) -> dict[str, Any]:
        return self.services.get(name) or {}


def placeholders(ip: str, mac: str, name: str, device: dict[str, str], gateway: str) -> dict:
    hexmac = mac.replace(":", "")
    return {
        "ip": ip,
        "mac": mac,
        "MAC": mac.upper(),
        "mac_dash": mac.replace(":", "-"),
        "MAC_DASH": mac.upper().replace(":", "-"),
        "mac_hex": hexmac,
        "mac_tail": hexmac[6:].upper(),
        "MAC_HEX": hexmac.upper(),
        "name": name,
        "gateway": gateway,
        **{k: str(v) for k, v in device.items()},
    }


def render(value: Any, values: dict[str, str]) -> Any:
    """Substitute `${key}` in every string of a nested structure; unknown keys stay as they are."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def stable_uuid(name: str, mac: str) -> str:
    return str(uuid.uuid5(_LAB_UUID_NS, f"{name}/{mac}"))


def build_persona(spec: dict[str, Any], source: str) -> Persona:
    """Render a validated, merged spec into a Persona (no validation here)."""
    ip = spec["ip"]
    mac = spec["mac"].lower()
    name = spec["name"]
    prefix = int(spec.get("prefix", 24))
    net = ipaddress.IPv4Network(f"{ip}/{prefix}", strict=False)
    gateway = spec.get("gateway") or str(net.broadcast_address - 1 if prefix < 31 else ip)
    device = {k: str(v) for k, v in (spec.get("device") or {}).items()}
    device.setdefault("uuid", stable_uuid(name, mac))
    values = placeholders(ip, mac, name, device, gateway)
    # device fields may reference each other once (e.g. serial built from the model)
    device = {k: render(v, values) for k, v in device.items()}
    values = placeholders(ip, mac, name, device, gateway)
    creds = spec.get("credentials")
    services = {b: render(spec[b], values) for b in PROTOCOL_BLOCKS if spec.get(b) is not None}
    return Persona(
        name=name,
        ip=ip,
        mac=mac,
        prefix=prefix,
        gateway=gateway,
        truth=dict(spec["truth"]),
        hostile=bool(spec.get("hostile", False)) or bool(spec.get("hostile_modes")),
        device=device,
        credentials=Credentials(creds["username"], creds["password"]) if creds else None,
        uuid=device["uuid"],
        services=services,
        source=source,
        spec=spec,
        hostile_modes=tuple(spec.get("hostile_modes") or ()),
    )
