"""Foscam (and Netwave/Hipcam clones) discovery: the MO_I frame on UDP 10000.

Frame: "MO_I" (4), operation (LE16), reserved (1 + 8), payload length (LE32), reserved (4),
then the payload. Operation 0 is the search, 1 its answer, whose payload is: camera id (13,
text, usually the MAC in hex), camera name (21, text), IPv4 address, mask, gateway, DNS
(4 each, network order), reserved (4), system and application firmware versions (4 bytes each,
one byte per dotted part), HTTP port (BE16), DHCP flag (1). Newer models may cipher the answer;
then only the frame is recognised.
"""

from __future__ import annotations

import struct

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.wire import cstr, ipv4_bytes, normalize_mac
from camscan.errors import ParseError

PORT = 10000
MAGIC = b"MO_I"
HEADER = struct.Struct("<4sHx8xI4x")  # 23 bytes
SEARCH, ANSWER = 0, 1
ANSWER_BODY = 65


def build() -> bytes:
    body = b"\x00\x00\x00\x01"
    return HEADER.pack(MAGIC, SEARCH, len(body)) + body


def claims(data: bytes) -> bool:
    return data[:4] == MAGIC and data[4:6] != b"\x00\x00"


def parse(data: bytes) -> VendorReply:
    if len(data) < HEADER.size or data[:4] != MAGIC:
        raise ParseError("Foscam: not an MO_I frame")
    _, op, length = HEADER.unpack_from(data)
    if op != ANSWER:
        raise ParseError(f"Foscam: operation {op} is not a search answer")
    body = data[HEADER.size : HEADER.size + length]
    if len(body) < ANSWER_BODY:
        raise ParseError("Foscam: answer payload too short (ciphered or truncated)")
    dev_id, name = cstr(body[0:13]), cstr(body[13:34])
    ip, mask, gw, dns = (ipv4_bytes(body[o : o + 4]) for o in (34, 38, 42, 46))
    sys_ver = ".".join(str(b) for b in body[54:58])
    app_ver = ".".join(str(b) for b in body[58:62])
    (http_port,) = struct.unpack_from(">H", body, 62)
    return make_reply(
        "Foscam",
        [
            ("mac", normalize_mac(dev_id)),
            ("firmware", sys_ver),
            ("name", name),
            ("serial", dev_id),
            ("ip", ip),
            ("mask", mask),
            ("gateway", gw),
            ("dns", dns),
            ("app_version", app_ver),
            ("http_port", str(http_port)),
            ("dhcp", str(body[64])),
        ],
    )


PROTOCOL = VendorProtocol(
    name="foscam",
    vendor="Foscam",
    port=PORT,
    reply_port=None,
    groups=(),
    build=build,
    parse=parse,
    claims=claims,
)
