"""Panasonic / i-PRO discovery: inquiry to UDP 10670, answers to UDP 10669, frames starting
with the header 0x00010000. Only the ports and the header are public: the inquiry is the
header and a zeroed body, and the answer is read tolerantly (its strings: model such as
WV-S1131, MAC as text or as six bytes under a Panasonic/i-PRO camera OUI, addresses).
"""

from __future__ import annotations

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.vendors.text import text_fields
from camscan.discovery.wire import normalize_mac
from camscan.errors import ParseError

PORT = 10670
REPLY_PORT = 10669
HEADER = b"\x00\x01\x00\x00"
INQUIRY_SIZE = 48
OUIS = (b"\x00\x80\x45", b"\x08\x00\x23", b"\xd4\x2d\xc5")  # Panasonic, Panasonic, i-PRO


def build() -> bytes:
    return HEADER + bytes(INQUIRY_SIZE - len(HEADER))


def claims(data: bytes) -> bool:
    return data[:1] == b"\x00" and len(data) >= 16 and data != build()


def parse(data: bytes) -> VendorReply:
    if not claims(data):
        raise ParseError("Panasonic: not an answer frame")
    body = data[4:]
    tf = text_fields(body)
    mac = tf.mac
    if mac is None:
        for oui in OUIS:
            if (i := body.find(oui)) >= 0 and len(body) >= i + 6:
                mac = normalize_mac(body[i : i + 6])
                break
    model = tf.model()
    if not (mac or model or tf.ips):
        raise ParseError("Panasonic: answer carries no MAC, model or address")
    ips = [*tf.ips, None, None, None]
    pairs: list[tuple[str, str | None]] = [
        ("model", model),
        ("mac", mac),
        ("firmware", tf.version()),
        ("ip", ips[0]),
        ("mask", ips[1]),
        ("gateway", ips[2]),
    ]
    pairs += [("text", s) for s in tf.other if s not in (model, tf.version())][:8]
    return make_reply("Panasonic", pairs)


PROTOCOL = VendorProtocol(
    name="panasonic",
    vendor="Panasonic",
    port=PORT,
    reply_port=REPLY_PORT,
    groups=(),
    build=build,
    parse=parse,
    claims=claims,
)
