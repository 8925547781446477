"""The discovery modules camscan knows, by name. Imported lazily so a scan pays only for the
modules it runs."""

from __future__ import annotations

import importlib

from camscan.discovery.base import BroadcastModule, HostModule
from camscan.errors import UsageError

# name -> "module:Class". Order is the order they are listed in help and output.
BROADCAST: dict[str, str] = {
    "arp": "camscan.discovery.arp:ArpModule",
    "wsd": "camscan.discovery.wsd:WsdModule",
    "mdns": "camscan.discovery.mdns:MdnsModule",
    "ssdp": "camscan.discovery.ssdp:SsdpModule",
    "sadp": "camscan.discovery.sadp:SadpModule",
    "dahua": "camscan.discovery.dahua:DahuaModule",
}
HOST: dict[str, str] = {
    "ports": "camscan.discovery.ports:PortsModule",
    "http": "camscan.discovery.http:HttpModule",
    "rtsp": "camscan.discovery.rtsp:RtspModule",
    "onvif": "camscan.discovery.onvif:OnvifModule",
}


def all_names() -> list[str]:
    return [*BROADCAST, *HOST]


def _load(spec: str) -> type:
    mod, _, cls = spec.partition(":")
    return getattr(importlib.import_module(mod), cls)


def select(names: list[str] | None) -> tuple[list[BroadcastModule], list[HostModule]]:
    """Instantiate the chosen modules ('ports' is always run: it feeds the host modules)."""
    chosen = list(dict.fromkeys(names or all_names()))
    unknown = [n for n in chosen if n not in BROADCAST and n not in HOST]
    if unknown:
        raise UsageError(
            f"unknown module(s) {', '.join(unknown)}; known: {', '.join(all_names())}"
        )
    broadcast = [_load(BROADCAST[n])() for n in chosen if n in BROADCAST]
    host = [_load(HOST[n])() for n in chosen if n in HOST and n != "ports"]
    return broadcast, host
