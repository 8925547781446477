"""Vivotek discovery on UDP 10000, told apart from Foscam's (same port) by the magic
0x4a5d8f1c. Only the port and magic are public; the inquiry is the magic followed by a zeroed
word, and the answer is read tolerantly: its strings (model, firmware such as
`FD9167-VVTK-0110a`, name), a MAC as text or as six bytes under Vivotek's OUI 00:02:D1.
"""

from __future__ import annotations

import struct

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.vendors.text import MODEL, text_fields
from camscan.discovery.wire import normalize_mac
from camscan.errors import ParseError

PORT = 10000
MAGIC = 0x4A5D8F1C
_MAGICS = (struct.pack(">I", MAGIC), struct.pack("<I", MAGIC))
OUI = b"\x00\x02\xd1"


def build() -> bytes:
    return _MAGICS[0] + bytes(4)


def claims(data: bytes) -> bool:
    return data[:4] in _MAGICS and len(data) > 8


def parse(data: bytes) -> VendorReply:
    if data[:4] not in _MAGICS:
        raise ParseError("Vivotek: magic 0x4a5d8f1c missing")
    if len(data) <= 8:
        raise ParseError("Vivotek: no answer body (an inquiry?)")
    body = data[4:]
    tf = text_fields(body)
    mac = tf.mac
    if mac is None and (i := body.find(OUI)) >= 0 and len(body) >= i + 6:
        mac = normalize_mac(body[i : i + 6])
    firmware = next((s for s in tf.other if "VVTK" in s.upper()), None) or tf.version()
    model = next((s for s in tf.other if s != firmware and MODEL.match(s)), None)
    if not (mac or model or firmware or tf.ips):
        raise ParseError("Vivotek: answer carries no MAC, model, firmware or address")
    rest = [s for s in tf.other if s not in (model, firmware)]
    pairs: list[tuple[str, str | None]] = [
        ("model", model),
        ("mac", mac),
        ("firmware", firmware),
        ("ip", tf.ips[0] if tf.ips else None),
    ]
    pairs += [("text", s) for s in rest[:8]]
    return make_reply("Vivotek", pairs)


PROTOCOL = VendorProtocol(
    name="vivotek",
    vendor="Vivotek",
    port=PORT,
    reply_port=None,
    groups=(),
    build=build,
    parse=parse,
    claims=claims,
)
