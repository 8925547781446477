"""Bosch video discovery: inquiry to UDP 1757, answers to UDP 1758.

The binary inquiry starts with the magic 0xff0006de and the binary answer with 0x9939a427;
some units answer with XML instead (friendlyName, unitName ...). Binary answer as read here:
magic (4), transaction id (4), MAC (6), IPv4 address, mask, gateway (4 each), then
NUL-separated strings (unit name, firmware ...). The public facts give the magic numbers only,
so the fixed part is checked for plausibility and the strings are classified.
"""

from __future__ import annotations

import os
import struct

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.vendors.text import text_fields
from camscan.discovery.wire import ipv4_bytes, local, normalize_mac, parse_xml
from camscan.errors import ParseError

PORT = 1757
REPLY_PORT = 1758
REQUEST_MAGIC = 0xFF0006DE
ANSWER_MAGIC = 0x9939A427
FIXED = 26  # magic, transaction id, MAC, address, mask, gateway
MAX_XML = 64 * 1024

# XML element (lower-cased) -> our key
_XML_KEYS = {
    "unitname": "name",
    "friendlyname": "name",
    "macaddress": "mac",
    "mac": "mac",
    "ipaddress": "ip",
    "ip": "ip",
    "serialnumber": "serial",
    "serial": "serial",
    "firmwareversion": "firmware",
    "softwareversion": "firmware",
    "firmware": "firmware",
    "modelname": "model",
    "model": "model",
    "productname": "model",
    "hardwareversion": "hardware",
}


def build(transaction: int | None = None) -> bytes:
    tid = int.from_bytes(os.urandom(4), "big") if transaction is None else transaction
    return struct.pack(">II", REQUEST_MAGIC, tid & 0xFFFFFFFF) + bytes(8)


def claims(data: bytes) -> bool:
    return data[:4] == struct.pack(">I", ANSWER_MAGIC) or data.lstrip()[:1] == b"<"


def parse(data: bytes) -> VendorReply:
    if data[:4] == struct.pack(">I", ANSWER_MAGIC):
        return _parse_binary(data)
    if data.lstrip()[:1] == b"<":
        return _parse_xml(data)
    raise ParseError("Bosch: neither the binary answer magic nor XML")


def _parse_binary(data: bytes) -> VendorReply:
    if len(data) < FIXED:
        raise ParseError("Bosch: binary answer shorter than its fixed part")
    mac = normalize_mac(data[8:14])
    ip, mask, gw = (ipv4_bytes(data[o : o + 4]) for o in (14, 18, 22))
    tf = text_fields(data[FIXED:], ips=False)
    model, firmware = tf.model(), tf.version()
    names = [s for s in tf.other if s not in (model, firmware)]
    pairs: list[tuple[str, str | None]] = [
        ("model", model),
        ("mac", mac if mac != "00:00:00:00:00:00" else None),
        ("firmware", firmware),
        ("name", names[0] if names else None),
        ("ip", ip if ip != "0.0.0.0" else None),
        ("mask", mask),
        ("gateway", gw),
    ]
    pairs += [("text", s) for s in names[1:8]]
    return make_reply("Bosch", pairs)


def _parse_xml(data: bytes) -> VendorReply:
    root = parse_xml(data, max_size=MAX_XML, what="Bosch XML answer")
    pairs: list[tuple[str, str | None]] = []
    for el in root.iter():
        name = local(el.tag)
        if not name or len(el) or el.text is None or not el.text.strip():
            continue
        value = el.text.strip()
        key = _XML_KEYS.get(name.lower())
        if key == "mac":
            value = normalize_mac(value) or value
        pairs.append((key or name[:40], value))
        if len(pairs) >= 64:
            break
    if not pairs:
        raise ParseError("Bosch: XML answer without fields")
    return make_reply("Bosch", pairs)


PROTOCOL = VendorProtocol(
    name="bosch",
    vendor="Bosch",
    port=PORT,
    reply_port=REPLY_PORT,
    groups=(),
    build=build,
    parse=parse,
    claims=claims,
)
