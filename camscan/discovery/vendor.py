"""Broadcast modules for the smaller vendors' discovery protocols, one module per vendor (so a
user can leave any one out). The protocols themselves (inquiry, parser) live in
camscan.discovery.vendors.<vendor>; the evidence is one `vendor_discovery` item per answer."""

from __future__ import annotations

from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.udp import Datagram, Listener, broadcast_addresses, send_and_collect
from camscan.discovery.vendors import (
    VendorProtocol,
    bosch,
    foscam,
    hanwha,
    panasonic,
    sony,
    ubiquiti,
    vendor_evidence,
    vivotek,
)
from camscan.errors import ParseError

MAX_REPLIES_PER_IP = 4


class VendorModule(BroadcastModule):
    """Sends one vendor's inquiry to the subnet broadcast (and its multicast groups), listens
    on our port and, when the protocol answers to a fixed port, on that port.

    Overrides for tests: `destinations` replaces every destination, and then answers are only
    expected on our own port unless `bind_port` / `listeners` say otherwise."""

    protocol: VendorProtocol

    def __init__(
        self,
        protocol: VendorProtocol | None = None,
        *,
        destinations: list[tuple[str, int]] | None = None,
        bind_port: int | None = None,
        listeners: list[Listener] | None = None,
    ) -> None:
        if protocol is not None:
            self.protocol = protocol
        self.name = self.protocol.name
        self.destinations = destinations
        if bind_port is None:
            bind_port = 0 if destinations is not None else (self.protocol.reply_port or 0)
        self.bind_port = bind_port
        self.listeners = listeners or []

    def _destinations(self, ctx: ScanContext) -> list[tuple[str, int]]:
        if self.destinations is not None:
            return list(self.destinations)
        proto = self.protocol
        dests = [(b, proto.port) for b in broadcast_addresses(ctx)]
        if not dests:
            ctx.warn(self.name, "no attached subnet holds the scan address; "
                     "no broadcast inquiry sent")  # fmt: skip
        return dests + [(g, proto.port) for g in proto.groups]

    async def run(self, ctx: ScanContext) -> None:
        proto = self.protocol
        per_ip: dict[str, int] = {}

        def handle(dgram: Datagram) -> None:
            ip = dgram.addr[0]
            if not ctx.in_scope(ip) or not proto.claims(dgram.data):
                return  # not an answer of this protocol (e.g. the other one on UDP 10000)
            try:
                reply = proto.parse(dgram.data)
            except ParseError as exc:
                ctx.warn(self.name, f"unreadable answer from {ip}: {exc}")
                ctx.note(ip, f"unreadable {proto.vendor} discovery answer")
                return
            per_ip[ip] = per_ip.get(ip, 0) + 1
            if per_ip[ip] > MAX_REPLIES_PER_IP:
                ctx.warn(self.name, f"{ip} sent more than {MAX_REPLIES_PER_IP} different "
                         "answers; ignoring the rest")  # fmt: skip
                ctx.note(ip, f"{proto.vendor} discovery: more than {MAX_REPLIES_PER_IP} "
                         f"different answers, kept {MAX_REPLIES_PER_IP}")  # fmt: skip
                return
            if reply.ipv4 and reply.ipv4 != ip:
                ctx.note(ip, f"{proto.vendor} discovery answer states address {reply.ipv4}")
            for ev in vendor_evidence(
                reply, ip, port=proto.port, module=self.name, observed_at=dgram.at
            ):
                ctx.emit(ev)

        dests = self._destinations(ctx)
        if not dests:
            return
        inquiry = proto.build()
        await send_and_collect(
            ctx,
            [(inquiry, d) for d in dests],
            ctx.settings.listen_window,
            ctx.settings.max_datagrams,
            module=self.name,
            broadcast=True,
            bind_port=self.bind_port,
            listeners=self.listeners,
            on_datagram=handle,
        )


class HanwhaModule(VendorModule):
    name = "hanwha"
    protocol = hanwha.PROTOCOL


class BoschModule(VendorModule):
    name = "bosch"
    protocol = bosch.PROTOCOL


class UbiquitiModule(VendorModule):
    name = "ubiquiti"
    protocol = ubiquiti.PROTOCOL


class VivotekModule(VendorModule):
    name = "vivotek"
    protocol = vivotek.PROTOCOL


class FoscamModule(VendorModule):
    name = "foscam"
    protocol = foscam.PROTOCOL


class PanasonicModule(VendorModule):
    name = "panasonic"
    protocol = panasonic.PROTOCOL


class SonyModule(VendorModule):
    name = "sony"
    protocol = sony.PROTOCOL


# For camscan.discovery.registry.BROADCAST
MODULES: dict[str, str] = {
    cls.name: f"camscan.discovery.vendor:{cls.__name__}"
    for cls in (
        HanwhaModule,
        BoschModule,
        UbiquitiModule,
        VivotekModule,
        FoscamModule,
        PanasonicModule,
        SonyModule,
    )
}
