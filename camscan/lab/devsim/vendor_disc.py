"""Other vendors' discovery protocols, where a persona has them. Each answers only its own
inquiry; anything else that arrives on the port is audited as non_discovery. Multi-byte
integers are big-endian; text fields are ASCII padded with NUL bytes.

Hanwha Vision / Wisenet — request to UDP 7701 (broadcast or unicast) whose first byte is
0x01; the reply goes from (device ip, 7701) to (requester ip, 7711):

    off  len
    0x00   1  0x0b (reply)
    0x01  18  MAC text "E4:30:22:5A:25:25"
    0x13  16  IPv4 address text
    0x23  16  subnet mask text
    0x33  16  gateway text
    0x43   2  HTTP port
    0x45   2  device port (4520)
    0x47  32  model name
    0x67  64  URL "http://<ip>/index.htm"            (total 0xa7 = 167 bytes)

Bosch — request to UDP 1757 starting with the magic 0xff0006de, then a 4-byte transaction id
(0 when missing); the reply goes from (device ip, 1757) to (requester ip, 1758). Binary:

    0x00  4  magic 0x9939a427
    0x04  4  transaction id (echoed)
    0x08  6  MAC
    0x0e  4  IPv4 address
    0x12  4  subnet mask
    0x16  4  gateway
    0x1a 32  unit name (model)
    0x3a 32  firmware                               (total 0x5a = 90 bytes)

  or, for personas with format: xml, a UTF-8 document
  <DeviceInfo><friendlyName/><unitName/><macAddress/><ipAddress/><firmware/></DeviceInfo>.

Ubiquiti — request to UDP 10001 (broadcast, multicast 233.89.188.1 or unicast) with the
payload 01 00 00 00 (v1) or 02 08 00 00 (v2); the reply goes unicast from (device ip, 10001)
to the requester:

    0x00  1  version (1, or 2 for a v2 request)
    0x01  1  command (0x00, or 0x06 for v2)
    0x02  2  length of the TLVs that follow
    then TLVs: type (1 byte), length (2 bytes), value, in this order:
      0x02 MAC (6) + IPv4 (4)   0x01 MAC (6)   0x0a uptime seconds (4)
      0x0b hostname   0x0c model short name ("UVC G4 Bullet")   0x03 firmware
      0x14 full model name (if set)   0x15 platform (if set)   0x0d ESSID (if set)
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from xml.sax.saxutils import escape

from camscan.lab.devsim import audit
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.udp import Send, open_udp
from camscan.lab.personas import Persona

HANWHA_PORT = 7701
HANWHA_REPLY_PORT = 7711
BOSCH_PORT = 1757
BOSCH_REPLY_PORT = 1758
BOSCH_REQUEST_MAGIC = 0xFF0006DE
BOSCH_REPLY_MAGIC = 0x9939A427
UBNT_PORT = 10001
UBNT_GROUP = "233.89.188.1"
UBNT_V1 = b"\x01\x00\x00\x00"
UBNT_V2 = b"\x02\x08\x00\x00"
UBNT_UPTIME = 86400 * 3 + 1234


def _pad(text: str, size: int) -> bytes:
    raw = text.encode("ascii", "replace")[:size]
    return raw + b"\0" * (size - len(raw))


def _ip4(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


# ---------------------------------------------------------------- Hanwha


def hanwha_reply(persona: Persona) -> bytes:
    h = persona.block("hanwha")
    return (
        b"\x0b"
        + _pad(persona.mac.upper(), 18)
        + _pad(persona.ip, 16)
        + _pad(persona.netmask, 16)
        + _pad(persona.gateway, 16)
        + struct.pack(">HH", int(h.get("http_port", 80)), int(h.get("device_port", 4520)))
        + _pad(h["model"], 32)
        + _pad(f"http://{persona.ip}/index.htm", 64)
    )


async def serve_hanwha(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        if data[:1] == b"\x0b":
            return
        if data[:1] != b"\x01":
            ctx.audit.record(
                persona,
                "hanwha",
                HANWHA_PORT,
                src,
                audit.NON_DISCOVERY,
                f"type byte {data[:1].hex() or 'empty'}",
            )
            return
        send(hanwha_reply(persona), (src[0], HANWHA_REPLY_PORT))

    label = f"hanwha {persona.name}"
    return await open_udp(ctx, persona.ip, HANWHA_PORT, [], on_packet, label)


# ---------------------------------------------------------------- Bosch


def bosch_reply(persona: Persona, transaction: int) -> bytes:
    b = persona.block("bosch")
    if b.get("format", "binary") == "xml":
        return (
            '<?xml version="1.0" encoding="UTF-8"?><DeviceInfo>'
            f"<friendlyName>{escape(b['unit_name'])}</friendlyName>"
            f"<unitName>{escape(b['unit_name'])}</unitName>"
            f"<macAddress>{persona.mac}</macAddress><ipAddress>{persona.ip}</ipAddress>"
            f"<firmware>{escape(b.get('firmware', ''))}</firmware></DeviceInfo>"
        ).encode()
    return (
        struct.pack(">II", BOSCH_REPLY_MAGIC, transaction)
        + persona.mac_bytes
        + _ip4(persona.ip)
        + _ip4(persona.netmask)
        + _ip4(persona.gateway)
        + _pad(b["unit_name"], 32)
        + _pad(b.get("firmware", ""), 32)
    )


async def serve_bosch(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        if len(data) < 4 or struct.unpack_from(">I", data)[0] != BOSCH_REQUEST_MAGIC:
            ctx.audit.record(
                persona,
                "bosch",
                BOSCH_PORT,
                src,
                audit.NON_DISCOVERY,
                f"magic {data[:4].hex() or 'empty'}",
            )
            return
        transaction = struct.unpack_from(">I", data, 4)[0] if len(data) >= 8 else 0
        send(bosch_reply(persona, transaction), (src[0], BOSCH_REPLY_PORT))

    label = f"bosch {persona.name}"
    return await open_udp(ctx, persona.ip, BOSCH_PORT, [], on_packet, label)


# ---------------------------------------------------------------- Ubiquiti


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">BH", kind, len(value)) + value


def ubiquiti_reply(persona: Persona, version: int = 1) -> bytes:
    u = persona.block("ubiquiti")
    tlvs = [
        _tlv(0x02, persona.mac_bytes + _ip4(persona.ip)),
        _tlv(0x01, persona.mac_bytes),
        _tlv(0x0A, struct.pack(">I", UBNT_UPTIME)),
        _tlv(0x0B, u.get("hostname", persona.name).encode()),
        _tlv(0x0C, u["model_short"].encode()),
        _tlv(0x03, u["firmware"].encode()),
    ]
    for kind, key in ((0x14, "model_full"), (0x15, "platform"), (0x0D, "essid")):
        if u.get(key):
            tlvs.append(_tlv(kind, u[key].encode()))
    payload = b"".join(tlvs)
    cmd = 0x06 if version == 2 else 0x00
    return struct.pack(">BBH", version, cmd, len(payload)) + payload


async def serve_ubiquiti(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        if data == UBNT_V1:
            send(ubiquiti_reply(persona, 1), src)
        elif data == UBNT_V2:
            send(ubiquiti_reply(persona, 2), src)
        elif len(data) > 4 and data[0] in (1, 2) and data[1] in (0, 6):
            return  # another device's reply
        else:
            ctx.audit.record(
                persona,
                "ubiquiti",
                UBNT_PORT,
                src,
                audit.NON_DISCOVERY,
                f"payload {data[:8].hex() or 'empty'}",
            )

    label = f"ubnt {persona.name}"
    return await open_udp(ctx, persona.ip, UBNT_PORT, [UBNT_GROUP], on_packet, label)
