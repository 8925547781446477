"""What the devices say unasked: the announcements a camera, printer or NAS sends when its link
comes up, so passive mode can be tried on a network where nobody probes.

One round (the simulator runs one per SIGUSR1: "every device rejoins the network") sends, per
persona and by the blocks it has:

  * an ARP announcement (RFC 5227 2.3: a request with sender = target = its address);
  * a DHCPREQUEST in the INIT-REBOOT state (RFC 2131 4.3.2: broadcast from 0.0.0.0:68, option
    50 = its address) with its `dhcp` block's vendor class (60), host name (12) and
    parameter list (55) — only personas with a `dhcp` block, as static devices send none;
  * a WS-Discovery Hello to 239.255.255.250:3702 (`wsd` block);
  * SSDP NOTIFY ssdp:alive to 239.255.255.250:1900 for each of its targets (`ssdp` block);
  * its mDNS records again, unsolicited (`mdns` block, through zeroconf);

then one marker frame (ethertype 0x88B5, IEEE 802 local experimental) so a recorder knows
the round is complete: the frames of a round leave through the same link in order. Closing
sends WS-Discovery Bye and SSDP ssdp:byebye (zeroconf says its own goodbyes).

ARP and DHCP frames are built here and sent on a packet socket bound to the persona's own
interface (they come from no IP socket: DHCP's source is 0.0.0.0). Hostile personas poison
or garble their announcements as they do their answers.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from camscan.lab.devsim import hostile, ssdp, wsd
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.mdns import Responder, announce_mdns
from camscan.lab.personas import Persona

MARKER_ETHERTYPE = 0x88B5
MARKER_PREFIX = b"camscan-lab announced round "
BROADCAST = b"\xff" * 6
DHCP_MAGIC = b"\x63\x82\x53\x63"
DEFAULT_DHCP_PARAMS = (1, 3, 6, 12, 15, 28, 42)

Send = Callable[[bytes, tuple[str, int]], None]


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def marker_payload(round_no: int) -> bytes:
    return MARKER_PREFIX + str(round_no).encode()


def arp_announcement(mac: str, ip: str) -> bytes:
    hw, addr = mac_bytes(mac), socket.inet_aton(ip)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, hw, addr, b"\x00" * 6, addr)
    return BROADCAST + hw + b"\x08\x06" + arp


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _option(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def dhcp_request(persona: Persona, xid: int) -> bytes:
    """An Ethernet frame: the persona's INIT-REBOOT DHCPREQUEST for its own address."""
    d = persona.block("dhcp")
    hw = mac_bytes(persona.mac)
    options = _option(53, b"\x03") + _option(61, b"\x01" + hw)
    options += _option(50, socket.inet_aton(persona.ip))
    if d.get("hostname"):
        options += _option(12, d["hostname"].encode()[:255])
    if d.get("vendor_class"):
        options += _option(60, d["vendor_class"].encode()[:255])
    options += _option(55, bytes(d.get("params") or DEFAULT_DHCP_PARAMS))
    bootp = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0, *(b"\x00" * 4,) * 4)
    bootp += hw.ljust(16, b"\x00") + b"\x00" * 192 + DHCP_MAGIC + options + b"\xff"
    bootp = bootp.ljust(300, b"\x00")  # BOOTP's minimum message size (RFC 1542 2.1)
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp  # checksum 0: none (IPv4)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), xid & 0xFFFF, 0, 64, 17, 0,
        b"\x00" * 4, b"\xff" * 4,
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return BROADCAST + hw + b"\x08\x00" + ip + udp


@dataclass(frozen=True)
class Sender:
    """The sockets a persona announces through: its WS-Discovery and SSDP unicast sockets
    (bound to its address and port, so announcements come from there)."""

    wsd: Send | None = None
    ssdp: Send | None = None


class Announcer:
    def __init__(
        self,
        personas: Sequence[Persona],
        ctx: SimContext,
        senders: dict[str, Sender],
        mdns: Sequence[Responder],
    ) -> None:
        self.personas = list(personas)
        self.ctx = ctx
        self.senders = senders
        self.mdns = list(mdns)
        self.rounds = 0
        self._links: dict[str, socket.socket] = {}

    def _link(self, persona: Persona) -> socket.socket | None:
        iface = self.ctx.ifaces.get(persona.ip)
        if iface is None or not self.ctx.multicast:
            return None
        sock = self._links.get(iface.name)
        if sock is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only
            sock.bind((iface.name, 0))
            self._links[iface.name] = sock
        return sock

    async def announce(self) -> int:
        """One round; the number of messages sent (the marker not counted)."""
        self.rounds += 1
        sent = 0
        for persona in self.personas:
            link = self._link(persona)
            if link is None:
                continue
            link.send(arp_announcement(persona.mac, persona.ip))
            sent += 1
            if persona.has("dhcp"):
                link.send(dhcp_request(persona, self.ctx.rng.getrandbits(32)))
                sent += 1
        for persona in self.personas:
            sent += self._multicast(persona, alive=True)
        if self.mdns:
            sent += await announce_mdns(self.mdns)
        if self.personas and (link := self._link(self.personas[0])) is not None:
            frame = BROADCAST + mac_bytes(self.personas[0].mac)
            link.send(frame + struct.pack("!H", MARKER_ETHERTYPE) + marker_payload(self.rounds))
        return sent

    def _multicast(self, persona: Persona, *, alive: bool) -> int:
        sender = self.senders.get(persona.name)
        if sender is None or not self.ctx.multicast:
            return 0
        sent = 0
        if sender.wsd is not None:
            if persona.mode("garbage"):
                msg = hostile.garbage(persona, "wsd-hello")
            elif alive:
                msg = wsd.build_hello(persona, self.rounds)
                msg = hostile.poisoned(persona, msg, "SOAP-ENV:Envelope", "Scopes")
            else:
                msg = wsd.build_bye(persona, self.rounds + 1)
            sender.wsd(msg, (wsd.WSD_GROUP, wsd.WSD_PORT))
            sent += 1
        if sender.ssdp is not None:
            for i, msg in enumerate(
                ssdp.notifies(persona, "ssdp:alive" if alive else "ssdp:byebye")
            ):
                if persona.mode("garbage"):
                    msg = hostile.garbage(persona, f"ssdp-notify{i}")
                sender.ssdp(msg, (ssdp.SSDP_GROUP, ssdp.SSDP_PORT))
                sent += 1
        return sent

    def goodbye(self) -> None:
        """WS-Discovery Bye and SSDP byebye of every persona (the simulator is stopping)."""
        for persona in self.personas:
            self._multicast(persona, alive=False)

    def close(self) -> None:
        for sock in self._links.values():
            sock.close()
        self._links.clear()
