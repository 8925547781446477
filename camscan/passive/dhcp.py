"""DHCP (BOOTP) messages: the client's MAC, addresses and the options that name a device.

Clients describe themselves in options 60 (vendor class), 12 (host name) and 55 (parameter
request list); a server's ACK binds the client's MAC to the address it leased.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from camscan.errors import ParseError
from camscan.model import Evidence

BOOTREQUEST, BOOTREPLY = 1, 2
DHCPACK = 5
_COOKIE = b"\x63\x82\x53\x63"
_FIXED = 236
_TEXT_MAX = 255


@dataclass(slots=True)
class DhcpMessage:
    op: int
    chaddr: str | None  # "aa:bb:cc:dd:ee:ff" when the hardware is Ethernet
    ciaddr: str | None
    yiaddr: str | None
    msg_type: int | None
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def requested_ip(self) -> str | None:
        raw = self.options.get(50)
        return socket.inet_ntoa(raw) if raw is not None and len(raw) == 4 else None


def _addr(raw: bytes) -> str | None:
    return None if raw == b"\x00\x00\x00\x00" else socket.inet_ntoa(raw)


def parse(data: bytes) -> DhcpMessage:
    """One DHCP message; ParseError when it is not one. Options may be cut short by the
    capture: whatever is complete is kept."""
    if len(data) < _FIXED + 4:
        raise ParseError("DHCP message truncated")
    op, htype, hlen = data[0], data[1], data[2]
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise ParseError(f"BOOTP op {op} unknown")
    if data[_FIXED : _FIXED + 4] != _COOKIE:
        raise ParseError("no DHCP magic cookie")
    ciaddr, yiaddr = struct.unpack_from("!4s4s", data, 12)
    chaddr = None
    if htype == 1 and hlen == 6:
        mac = data[28:34]
        if mac != b"\x00" * 6 and not mac[0] & 1:
            chaddr = ":".join(f"{b:02x}" for b in mac)
    options: dict[int, bytes] = {}
    i = _FIXED + 4
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            break
        length = data[i + 1]
        value = data[i + 2 : i + 2 + length]
        if len(value) != length:
            break
        # RFC 3396: a repeated option continues the first one
        options[code] = options.get(code, b"") + value
        i += 2 + length
    msg_type = options[53][0] if len(options.get(53, b"")) == 1 else None
    return DhcpMessage(op, chaddr, _addr(ciaddr), _addr(yiaddr), msg_type, options)


def _text(raw: bytes) -> str:
    text = raw.rstrip(b"\x00").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()[:_TEXT_MAX]


def dhcp_evidence(
    msg: DhcpMessage,
    *,
    module: str = "passive",
    observed_at: float,
    packet: int | None = None,
    source: str | None = None,
) -> list[Evidence]:
    """Evidence about the client: its own options (requests) or its leased address (ACKs)."""
    out: list[Evidence] = []

    def add(protocol: str, value: str, ip: str | None) -> None:
        if value:
            out.append(
                Evidence(
                    module=module,
                    protocol=protocol,
                    value=value,
                    ip=ip,
                    mac=msg.chaddr,
                    port=68,
                    transport="udp",
                    source=source,
                    observed_at=observed_at,
                    packet=packet,
                )
            )

    if msg.op == BOOTREQUEST:
        ip = msg.ciaddr or msg.requested_ip
        if 60 in msg.options:
            add("dhcp_vendor_class", _text(msg.options[60]), ip)
        if 12 in msg.options:
            add("dhcp_hostname", _text(msg.options[12]), ip)
        if 55 in msg.options:
            add("dhcp_params", ",".join(str(b) for b in msg.options[55]), ip)
        if msg.chaddr:
            add("mac", msg.chaddr, ip)
    elif msg.msg_type == DHCPACK and msg.chaddr and msg.yiaddr:
        add("mac", msg.chaddr, msg.yiaddr)
    return out
