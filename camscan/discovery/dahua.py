"""Dahua discovery: DHIP search (UDP 37810, JSON) and the legacy binary search (UDP 5050).

Both are inquiries only. DHIP replies carry `client.notifyDevInfo` with `params.deviceInfo`
(DeviceClass, DeviceType = the model, SerialNo, Vendor, MachineName, Version, ports, addresses);
legacy replies are a binary frame starting 0xb3 with a 16-byte device type at 0x28, the IPv4
address, mask, gateway and DNS at 0x38-0x47, then a MAC string and key=value text.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from camscan.discovery.answers import answer_handler
from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.udp import Listener, broadcast_addresses, send_and_collect
from camscan.discovery.wire import (
    clean_key,
    cstr,
    evidence,
    find_mac,
    ipv4_bytes,
    ipv4_text,
    normalize_mac,
)
from camscan.errors import ParseError
from camscan.model import Evidence
from camscan.protocols import kv_lines

DHIP_GROUP = "239.255.255.251"
DHIP_PORT = 37810
LEGACY_PORT = 5050
MAGIC = b"DHIP"
HEADER = 0x20
MAX_BODY = 64 * 1024
MAX_FIELDS = 128
MAX_VALUE = 512
_KV = re.compile(r"([A-Za-z][A-Za-z0-9_.]{0,63})=([^\r\n\x00&]*)")


@dataclass(frozen=True, slots=True)
class DahuaReply:
    kind: str  # "dhip" | "legacy"
    pairs: list[tuple[str, str]] = field(default_factory=list)  # device's own key names
    mac: str | None = None
    ipv4: str | None = None  # the address the device states

    @property
    def port(self) -> int:
        return DHIP_PORT if self.kind == "dhip" else LEGACY_PORT

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.pairs if k == key), None)


def build_dhip_search(uni: int = 1) -> bytes:
    """The DHIP `DHDiscover.search` inquiry (uni=1 asks for a unicast answer)."""
    body = json.dumps(
        {"method": "DHDiscover.search", "params": {"mac": "", "uni": uni}},
        separators=(",", ":"),
    ).encode()
    n = len(body)
    return struct.pack("<I4s8xI4xI4x", HEADER, MAGIC, n, n) + body


def build_legacy_search() -> bytes:
    """The legacy (v1) search frame: 0xa3 and a zeroed 32-byte header."""
    return b"\xa3" + bytes(31)


def parse(data: bytes) -> DahuaReply:
    """A DHIP or legacy discovery reply. Raises ParseError for anything else (including
    search requests, ours or another client's)."""
    if len(data) >= 8 and data[4:8] == MAGIC:
        return _parse_dhip(data)
    if data[:1] == b"\xb3":
        return _parse_legacy(data)
    raise ParseError("Dahua: neither DHIP nor a legacy 0xb3 reply")


def _parse_dhip(data: bytes) -> DahuaReply:
    if len(data) < HEADER:
        raise ParseError("DHIP: short header")
    (hlen,) = struct.unpack_from("<I", data, 0)
    (blen,) = struct.unpack_from("<I", data, 16)
    start = hlen if HEADER <= hlen <= len(data) else HEADER
    body = data[start : start + blen] if 0 < blen <= len(data) - start else data[start:]
    body = body.rstrip(b"\x00 \r\n\t")
    if len(body) > MAX_BODY:
        raise ParseError("DHIP: body over the size cap")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ParseError(f"DHIP: body is not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise ParseError("DHIP: body is not a JSON object")
    method = doc.get("method")
    if method != "client.notifyDevInfo":
        raise ParseError(f"DHIP: method {str(method)[:40]!r} is not client.notifyDevInfo")
    params = doc.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        raise ParseError("DHIP: no params.deviceInfo object")
    pairs = _flatten(info)
    mac = _first_mac(info.get("mac"), doc.get("mac"), params.get("mac"))
    if mac and not any(k.lower() == "mac" for k, _ in pairs):
        pairs.append(("mac", mac))
    addr = info.get("IPv4Address")
    ipv4 = ipv4_text(addr.get("IPAddress")) if isinstance(addr, dict) else None
    return DahuaReply("dhip", pairs, mac=mac, ipv4=ipv4)


def _first_mac(*values: object) -> str | None:
    for v in values:
        if isinstance(v, str) and (mac := normalize_mac(v)):
            return mac
    return None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)[:MAX_VALUE]
    return None


def _flatten(info: dict[Any, Any]) -> list[tuple[str, str]]:
    """deviceInfo -> pairs, in the order sent; one level of objects becomes dotted keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in info.items():
        if len(pairs) >= MAX_FIELDS:
            break
        key = clean_key(str(key))
        if isinstance(value, dict):
            for sub, subval in list(value.items())[:MAX_FIELDS]:
                if (s := _scalar(subval)) is not None:
                    pairs.append((f"{key}.{clean_key(str(sub))}", s))
        elif isinstance(value, list):
            items = [s for v in value[:32] if (s := _scalar(v)) is not None]
            if items:
                pairs.append((key, ",".join(items)[:MAX_VALUE]))
        elif (s := _scalar(value)) is not None:
            pairs.append((key, s))
    return pairs[:MAX_FIELDS]


def _parse_legacy(data: bytes) -> DahuaReply:
    if len(data) < 0x48:
        raise ParseError("Dahua legacy: reply shorter than its fixed part")
    model = cstr(data[0x28:0x38])
    ip, mask, gw, dns = (ipv4_bytes(data[o : o + 4]) for o in (0x38, 0x3C, 0x40, 0x44))
    tail = data[0x48 : 0x48 + MAX_BODY].decode("latin-1")
    mac = find_mac(tail)
    pairs: list[tuple[str, str]] = [
        ("DeviceType", model),
        ("IPv4Address.IPAddress", ip or ""),
        ("IPv4Address.SubnetMask", mask or ""),
        ("IPv4Address.DefaultGateway", gw or ""),
        ("DNS", dns or ""),
    ]
    if mac:
        pairs.append(("mac", mac))
    for key, value in _KV.findall(tail)[:MAX_FIELDS]:
        pairs.append((key, value.strip()[:MAX_VALUE]))
    if not model and not mac and len(pairs) == 5:
        raise ParseError("Dahua legacy: no device type, MAC or fields")
    return DahuaReply("legacy", [(k, v) for k, v in pairs if v], mac=mac, ipv4=ip)


def dahua_evidence(
    reply: DahuaReply,
    ip: str | None,
    *,
    module: str = "dahua",
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """One `dahua_discovery` evidence item: the device's fields as key=value lines."""
    return [
        evidence(
            module=module,
            protocol="dahua_discovery",
            value=kv_lines(reply.pairs),
            ip=ip or reply.ipv4,
            mac=reply.mac,
            port=reply.port,
            observed_at=observed_at,
            packet=packet,
        )
    ]


class DahuaModule(BroadcastModule):
    """DHIP search to the multicast group and the subnet broadcast, legacy search to the
    subnet broadcast; answers are heard on our port and on 37810 / 5050 (those listeners are
    left out when destinations are overridden, e.g. in tests)."""

    name = "dahua"

    def __init__(
        self,
        dhip_destinations: list[tuple[str, int]] | None = None,
        legacy_destinations: list[tuple[str, int]] | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.overridden = dhip_destinations is not None or legacy_destinations is not None
        self.dhip_destinations = dhip_destinations
        self.legacy_destinations = legacy_destinations
        if listeners is None and not self.overridden:
            listeners = [Listener(DHIP_PORT, DHIP_GROUP), Listener(LEGACY_PORT)]
        self.listeners = listeners or []

    def _payloads(self, ctx: ScanContext) -> list[tuple[bytes, tuple[str, int]]]:
        if self.overridden:
            dhip = self.dhip_destinations or []
            legacy = self.legacy_destinations or []
        else:
            bcast = broadcast_addresses(ctx)
            if not bcast:
                ctx.warn(self.name, "no attached subnet holds the scan address; "
                         "sending the multicast search only")  # fmt: skip
            dhip = [(DHIP_GROUP, DHIP_PORT)] + [(b, DHIP_PORT) for b in bcast]
            legacy = [(b, LEGACY_PORT) for b in bcast]
        search, old = build_dhip_search(), build_legacy_search()
        return [(search, d) for d in dhip] + [(old, d) for d in legacy]

    async def run(self, ctx: ScanContext) -> None:
        handle = answer_handler(
            ctx,
            self.name,
            "Dahua discovery",
            skip=_is_request,
            parse=parse,
            to_evidence=lambda r, ip, at: dahua_evidence(r, ip, module=self.name, observed_at=at),
        )

        await send_and_collect(
            ctx,
            self._payloads(ctx),
            ctx.settings.listen_window,
            ctx.settings.max_datagrams,
            module=self.name,
            broadcast=True,
            listeners=self.listeners,
            on_datagram=handle,
        )


def _is_request(data: bytes) -> bool:
    """A search request (another client's, or ours heard on a shared port)."""
    return data[:1] == b"\xa3" or (data[4:8] == MAGIC and b"DHDiscover.search" in data[:512])
