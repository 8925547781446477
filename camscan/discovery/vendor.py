"""Broadcast modules for the smaller vendors' discovery protocols, one module per vendor (so a
user can leave any one out). The protocols themselves (inquiry, parser) live in
camscan.discovery.vendors.<vendor>; the evidence is one `vendor_discovery` item per answer."""

from __future__ import annotations

from camscan.discovery.answers import answer_handler
from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.udp import Listener, broadcast_addresses, send_and_collect
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
        handle = answer_handler(
            ctx,
            self.name,
            f"{proto.vendor} discovery",
            skip=lambda data: not proto.claims(data),  # e.g. the other protocol on UDP 10000
            parse=proto.parse,
            to_evidence=lambda r, ip, at: vendor_evidence(
                r, ip, port=proto.port, module=self.name, observed_at=at
            ),
        )

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
