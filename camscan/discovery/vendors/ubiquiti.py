"""Ubiquiti discovery (UDP 10001): inquiry `01 00 00 00`, reply of TLVs.

Reply: version (1 byte, 1), command (1 byte), payload length (BE16), then TLVs of type (1
byte), length (BE16), value. Known types: 0x01 MAC, 0x02 MAC + IPv4, 0x03 firmware,
0x0a uptime, 0x0b hostname, 0x0c short model (e.g. "AirCam"), 0x0d ESSID, 0x14 full model.
"""

from __future__ import annotations

import struct

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.wire import ipv4_bytes, normalize_mac
from camscan.errors import ParseError

PORT = 10001
GROUP = "233.89.188.1"
MAX_TLVS = 64

_TEXT = {0x03: "firmware", 0x0B: "name", 0x0C: "model_short", 0x0D: "essid", 0x14: "model"}


def build() -> bytes:
    return b"\x01\x00\x00\x00"


def claims(data: bytes) -> bool:
    return len(data) >= 4 and data[0] in (1, 2) and data[:4] not in (b"\x01\x00\x00\x00",)


def parse(data: bytes) -> VendorReply:
    if len(data) < 4 or data[0] not in (1, 2):
        raise ParseError("Ubiquiti: not a discovery reply (version byte)")
    (length,) = struct.unpack_from(">H", data, 2)
    if length == 0:
        raise ParseError("Ubiquiti: empty reply (an inquiry?)")
    if 4 + length > len(data):
        raise ParseError("Ubiquiti: payload length beyond the datagram")
    body = data[4 : 4 + length]
    pairs: list[tuple[str, str | None]] = []
    macs: list[str] = []
    ips: list[str] = []
    off = 0
    for _ in range(MAX_TLVS):
        if off == len(body):
            break
        if off + 3 > len(body):
            raise ParseError("Ubiquiti: truncated TLV header")
        kind = body[off]
        (size,) = struct.unpack_from(">H", body, off + 1)
        value = body[off + 3 : off + 3 + size]
        if len(value) != size:
            raise ParseError("Ubiquiti: truncated TLV value")
        off += 3 + size
        if kind == 0x01 and size == 6:
            macs.append(normalize_mac(value) or "")
        elif kind == 0x02 and size == 10:
            macs.append(normalize_mac(value[:6]) or "")
            ips.append(ipv4_bytes(value[6:]) or "")
        elif kind in _TEXT:
            pairs.append((_TEXT[kind], value.decode("utf-8", "replace")))
        elif kind == 0x0A and size == 4:
            pairs.append(("uptime", str(struct.unpack(">I", value)[0])))
    if not pairs and not macs:
        raise ParseError("Ubiquiti: reply without any known field")
    if not any(k == "model" for k, _ in pairs):
        short = next((v for k, v in pairs if k == "model_short"), None)
        pairs.insert(0, ("model", short))
    pairs.append(("mac", next((m for m in macs if m), None)))
    pairs.append(("ip", next((i for i in ips if i), None)))
    return make_reply("Ubiquiti", pairs)


PROTOCOL = VendorProtocol(
    name="ubiquiti",
    vendor="Ubiquiti",
    port=PORT,
    reply_port=None,
    groups=(GROUP,),
    build=build,
    parse=parse,
    claims=claims,
)
