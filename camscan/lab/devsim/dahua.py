"""Dahua discovery: DHIP on UDP 37810 (multicast 239.255.255.251, broadcast, unicast) and the
legacy binary search on UDP 5050 (broadcast, unicast). Replies go unicast from the device's
(ip, port) to the requester's (ip, port).

DHIP frame (request and reply), little-endian:

    off len
    0x00  4  header length = 0x20
    0x04  4  b"DHIP"
    0x08  8  zero
    0x10  4  body length
    0x14  4  zero
    0x18  4  body length (again)
    0x1c  4  zero
    0x20  n  JSON body (UTF-8)

Request body: {"method":"DHDiscover.search","params":{"mac":"","uni":1}} (uni 0 or 1, both
answered). Any other method is audited (non_discovery) and not answered. Reply body:

    {"mac":"3c:ef:8c:1b:19:19","method":"client.notifyDevInfo","params":{"deviceInfo":{
      <persona dhip.device_info in file order: DeviceClass, DeviceType, SerialNo, Vendor,
       MachineName, Version, HttpPort, HttpsPort, Port...>,
      "IPv4Address":{"IPAddress":..,"SubnetMask":..,"DefaultGateway":..,"DhcpEnable":false},
      "IPv6Address":{"IPAddress":"::/64","DefaultGateway":"::","DhcpEnable":false}}}}

Legacy request: first byte 0xa3 (a 32-byte frame, the rest zero). Legacy reply:

    off  len
    0x00  1  0xb3
    0x01  3  zero
    0x04  4  LE32 number of bytes after offset 0x20
    0x08 32  zero
    0x28 16  device type, ASCII, NUL padded (cut at 16 bytes, as on real units)
    0x38  4  IPv4 address (network order)
    0x3c  4  subnet mask
    0x40  4  gateway
    0x44  4  DNS server (the gateway)
    0x48 20  MAC, ASCII "aa:bb:cc:dd:ee:ff", NUL padded
    0x5c  n  key=value lines separated by CRLF (persona dahua_legacy.fields in file order —
             SerialNo, Vendor, Version, HttpPort, TcpPort — then IPv6Addr), UTF-8, ending
             with one NUL
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import struct
from typing import Any

from camscan.errors import ParseError
from camscan.lab.devsim import audit, hostile
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.udp import Send, open_udp
from camscan.lab.personas import Persona

DHIP_GROUP = "239.255.255.251"
DHIP_PORT = 37810
LEGACY_PORT = 5050
DHIP_MAGIC = b"DHIP"
SEARCH_METHOD = "DHDiscover.search"
MAX_BODY = 64 * 1024
LEGACY_REQUEST = 0xA3
LEGACY_REPLY = 0xB3


def build_dhip(body: dict[str, Any]) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    header = struct.pack("<I4s8xI4xI4x", 0x20, DHIP_MAGIC, len(raw), len(raw))
    return header + raw


def parse_dhip(data: bytes) -> dict[str, Any]:
    if len(data) < 32:
        raise ParseError("DHIP frame shorter than its header")
    hlen, magic, blen, blen2 = struct.unpack_from("<I4s8xI4xI4x", data)
    if hlen != 0x20 or magic != DHIP_MAGIC:
        raise ParseError("not a DHIP frame")
    if blen > MAX_BODY or blen > len(data) - 32:
        raise ParseError("DHIP body length out of range")
    try:
        body = json.loads(data[32 : 32 + blen].rstrip(b"\0").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ParseError(f"DHIP body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ParseError("DHIP body is not a JSON object")
    return body


def dhip_reply(persona: Persona) -> bytes:
    info = dict(persona.block("dhip")["device_info"])
    for key in ("HttpPort", "HttpsPort", "Port"):
        if isinstance(info.get(key), str) and info[key].isdigit():
            info[key] = int(info[key])
    ip, mac = hostile.claimed(persona)
    info["IPv4Address"] = {
        "IPAddress": ip,
        "SubnetMask": persona.netmask,
        "DefaultGateway": persona.gateway,
        "DhcpEnable": False,
    }
    info["IPv6Address"] = {"IPAddress": "::/64", "DefaultGateway": "::", "DhcpEnable": False}
    return build_dhip(
        {"mac": mac, "method": "client.notifyDevInfo", "params": {"deviceInfo": info}}
    )


def legacy_reply(persona: Persona) -> bytes:
    conf = persona.block("dahua_legacy")
    fields = dict(conf.get("fields") or {})
    fields.setdefault("IPv6Addr", "::/64")
    text = "\r\n".join(f"{k}={v}" for k, v in fields.items()).encode() + b"\0"
    body = bytearray(0x5C - 0x20)
    dev = conf["device_type"].encode()[:16]
    body[0x08 : 0x08 + len(dev)] = dev
    ip, mac_text = hostile.claimed(persona)
    ip4 = [ipaddress.IPv4Address(a).packed for a in (ip, persona.netmask, persona.gateway)]
    body[0x18:0x28] = ip4[0] + ip4[1] + ip4[2] + ip4[2]
    mac = mac_text.encode()
    body[0x28 : 0x28 + len(mac)] = mac
    payload = bytes(body) + text
    header = struct.pack("<B3xI24x", LEGACY_REPLY, len(payload))
    return header + payload


async def serve_dhip(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        try:
            body = parse_dhip(data)
        except ParseError as exc:
            ctx.audit.record(persona, "dhip", DHIP_PORT, src, audit.NON_DISCOVERY, str(exc))
            return
        method = body.get("method")
        if method == "client.notifyDevInfo":
            return  # another device's reply seen on the group
        if method != SEARCH_METHOD:
            ctx.audit.record(
                persona,
                "dhip",
                DHIP_PORT,
                src,
                audit.NON_DISCOVERY,
                f"DHIP method={str(method)[:80]}",
            )
            return
        send(
            hostile.garbage(persona, "dhip") if persona.mode("garbage") else dhip_reply(persona),
            src,
        )

    label = f"dhip {persona.name}"
    return await open_udp(ctx, persona.ip, DHIP_PORT, [DHIP_GROUP], on_packet, label)


async def serve_legacy(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        if data[:1] == bytes([LEGACY_REPLY]):
            return  # another device's reply
        if data[:1] != bytes([LEGACY_REQUEST]):
            ctx.audit.record(
                persona,
                "dahua-legacy",
                LEGACY_PORT,
                src,
                audit.NON_DISCOVERY,
                f"first byte {data[:1].hex() or 'empty'}",
            )
            return
        send(legacy_reply(persona), src)

    label = f"dahua5050 {persona.name}"
    return await open_udp(ctx, persona.ip, LEGACY_PORT, [], on_packet, label)
