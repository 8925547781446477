"""The discovery modules camscan knows, by name. Imported lazily so a scan pays only for the
modules it runs."""

from __future__ import annotations

import importlib

from camscan.discovery.base import BroadcastModule, HostModule
from camscan.errors import UsageError

# name -> "module:Class". A name may have a broadcast part and a per-host part (wsd: multicast
# on the attached segment, unicast to hosts beyond it).
BROADCAST: dict[str, str] = {
    "arp": "camscan.discovery.arp:ArpModule",
    "wsd": "camscan.discovery.wsd:WsdModule",
    "mdns": "camscan.discovery.mdns:MdnsModule",
    "ssdp": "camscan.discovery.ssdp:SsdpModule",
    "sadp": "camscan.discovery.sadp:SadpModule",
    "dahua": "camscan.discovery.dahua:DahuaModule",
    "hanwha": "camscan.discovery.vendor:HanwhaModule",
    "bosch": "camscan.discovery.vendor:BoschModule",
    "ubiquiti": "camscan.discovery.vendor:UbiquitiModule",
    "vivotek": "camscan.discovery.vendor:VivotekModule",
    "foscam": "camscan.discovery.vendor:FoscamModule",
    "panasonic": "camscan.discovery.vendor:PanasonicModule",
    "sony": "camscan.discovery.vendor:SonyModule",
}
HOST: dict[str, str] = {
    "wsd": "camscan.discovery.wsd:WsdUnicastModule",
    "ports": "camscan.discovery.ports:PortsModule",
    "http": "camscan.discovery.http:HttpModule",
    "rtsp": "camscan.discovery.rtsp:RtspModule",
    "onvif": "camscan.discovery.onvif:OnvifModule",
    "banner": "camscan.discovery.banner:BannerModule",
}
# The inquiries of these vendors are built from thin public facts (a port and a magic number)
# and have not been checked against real devices: run only when asked for by name.
NOT_BY_DEFAULT = frozenset({"vivotek", "foscam", "panasonic", "sony"})


def all_names() -> list[str]:
    return list(dict.fromkeys([*BROADCAST, *HOST]))


def default_names() -> list[str]:
    return [n for n in all_names() if n not in NOT_BY_DEFAULT]


def _load(spec: str) -> type:
    mod, _, cls = spec.partition(":")
    return getattr(importlib.import_module(mod), cls)


def select(names: list[str] | None) -> tuple[list[BroadcastModule], list[HostModule]]:
    """Instantiate the chosen modules ('ports' always runs: it feeds the host modules)."""
    chosen = list(dict.fromkeys(names or default_names()))
    unknown = [n for n in chosen if n not in BROADCAST and n not in HOST]
    if unknown:
        raise UsageError(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(all_names())}")
    broadcast = [_load(BROADCAST[n])() for n in chosen if n in BROADCAST]
    host = [_load(HOST[n])() for n in chosen if n in HOST and n != "ports"]
    return broadcast, host
