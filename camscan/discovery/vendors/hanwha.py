"""Hanwha Vision / Samsung Techwin (Wisenet) discovery: inquiry to UDP 7701, answer to 7711.

The first byte is the packet type: 0x01 for the inquiry, 0x0b for a device's answer. The answer
carries the MAC as text, the IPv4 address, mask and gateway, the model name and a URL such as
`http://<ip>/index.htm` in NUL-padded text fields. The layout read first (the lab simulator's):

    0x00  1  0x0b            0x33 16  gateway text
    0x01 18  MAC text        0x43  2  HTTP port (BE16)
    0x13 16  IPv4 text       0x45  2  device port (BE16)
    0x23 16  mask text       0x47 32  model name       0x67 64  URL

The public facts do not pin those offsets down, so an answer that does not fit them is read
by classifying its strings instead (vendors.text).
"""

from __future__ import annotations

import struct

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.vendors.text import text_fields
from camscan.discovery.wire import cstr, ipv4_text, normalize_mac
from camscan.errors import ParseError

PORT = 7701
REPLY_PORT = 7711
INQUIRY = 0x01
ANSWER = 0x0B
FIXED_SIZE = 0xA7
INQUIRY_SIZE = FIXED_SIZE  # type byte + zeroed fields


def build() -> bytes:
    return bytes([INQUIRY]) + bytes(INQUIRY_SIZE - 1)


def claims(data: bytes) -> bool:
    return data[:1] == bytes([ANSWER])


def parse(data: bytes) -> VendorReply:
    if not claims(data):
        raise ParseError("Hanwha: not an answer (type byte is not 0x0b)")
    if len(data) < 32:
        raise ParseError("Hanwha: answer too short")
    return _fixed(data) or _tolerant(data)


def _fixed(data: bytes) -> VendorReply | None:
    if len(data) < FIXED_SIZE:
        return None
    mac = normalize_mac(cstr(data[0x01:0x13]))
    ip = ipv4_text(cstr(data[0x13:0x23]))
    model, url = cstr(data[0x47:0x67]), cstr(data[0x67:0xA7])
    if not (mac and ip and model.isprintable() and model) or (url and not url.startswith("http")):
        return None  # the fields are not where this layout puts them
    http_port, device_port = struct.unpack_from(">HH", data, 0x43)
    return make_reply(
        "Hanwha Vision",
        [
            ("model", model),
            ("mac", mac),
            ("ip", ip),
            ("mask", ipv4_text(cstr(data[0x23:0x33]))),
            ("gateway", ipv4_text(cstr(data[0x33:0x43]))),
            ("http_port", str(http_port)),
            ("device_port", str(device_port)),
            ("url", url),
        ],
    )


def _tolerant(data: bytes) -> VendorReply:
    tf = text_fields(data[1:])
    if not tf.mac and not tf.ips:
        raise ParseError("Hanwha: answer carries no MAC and no address")
    model = tf.model()
    ips = [*tf.ips, None, None, None]
    pairs: list[tuple[str, str | None]] = [
        ("model", model),
        ("mac", tf.mac),
        ("ip", ips[0]),
        ("mask", ips[1]),
        ("gateway", ips[2]),
        ("url", tf.urls[0] if tf.urls else None),
    ]
    pairs += [("text", s) for s in tf.other if s != model][:8]
    return make_reply("Hanwha Vision", pairs)


PROTOCOL = VendorProtocol(
    name="hanwha",
    vendor="Hanwha Vision",
    port=PORT,
    reply_port=REPLY_PORT,
    groups=(),
    build=build,
    parse=parse,
    claims=claims,
)
