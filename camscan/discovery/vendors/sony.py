"""Sony network camera discovery on UDP 2380: the answer is text lines such as `MAC:`,
`MODEL:`, `SERIAL:`, `IPADR:`, `WEBPORT:` between STX (0x02) and ETX (0x03) markers. The
inquiry's exact bytes are not public; camscan sends an empty STX/ETX frame, which asks for
nothing else, and reads any such answer.
"""

from __future__ import annotations

import re

from camscan.discovery.vendors import VendorProtocol, VendorReply, make_reply
from camscan.discovery.wire import ipv4_text, normalize_mac
from camscan.errors import ParseError

PORT = 2380
# The key only: bounded, so a match costs O(1) per line; the value is the rest, stripped.
# (A pattern reading the value too, `\s*(.*?)\s*$`, tried every split of a long run of
# whitespace against the rest: quadratic, seconds per crafted datagram.)
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_ ]{0,30}?)\s*[:=]")
_SPLIT = re.compile(r"[\r\n\x00]+")
_KEYS = {
    "MAC": "mac",
    "MACADR": "mac",
    "MODEL": "model",
    "MODELNAME": "model",
    "SERIAL": "serial",
    "SERIALNO": "serial",
    "IPADR": "ip",
    "IPADDR": "ip",
    "SUBNETMASK": "mask",
    "GATEWAY": "gateway",
    "WEBPORT": "http_port",
    "NAME": "name",
    "VERSION": "firmware",
    "SOFTVERSION": "firmware",
    "FIRMWARE": "firmware",
}


def build() -> bytes:
    return b"\x02\x03"


def claims(data: bytes) -> bool:
    return b"\x02" in data[:64] and (b"MAC:" in data or b"MODEL:" in data)


def parse(data: bytes) -> VendorReply:
    start = data.find(b"\x02")
    if start < 0:
        raise ParseError("Sony: no STX marker")
    end = data.find(b"\x03", start + 1)
    frame = data[start + 1 : end if end > 0 else len(data)][:8192]
    pairs: list[tuple[str, str | None]] = []
    for raw_line in _SPLIT.split(frame.decode("utf-8", "replace"), maxsplit=128)[:128]:
        line = raw_line.strip()
        m = _KEY.match(line)
        if not m:
            continue
        raw_key, value = m.group(1).strip(), line[m.end() :].strip()
        key = _KEYS.get(raw_key.upper().replace(" ", ""), raw_key.lower()[:32])
        if key == "mac":
            value = normalize_mac(value) or value
        elif key == "ip":
            value = ipv4_text(value) or value
        pairs.append((key, value))
    if not any(k in ("mac", "model", "serial") for k, v in pairs if v):
        raise ParseError("Sony: answer without MAC, MODEL or SERIAL")
    return make_reply("Sony", pairs)


PROTOCOL = VendorProtocol(
    name="sony",
    vendor="Sony",
    port=PORT,
    reply_port=None,
    groups=(),
    build=build,
    parse=parse,
    claims=claims,
)
