"""Hosts that announce other devices under their own address. A HomeKit bridge (Homebridge,
HOOBS, Home Assistant, Scrypted...) publishes every camera it bridges as a `_hap` service
whose TXT `md=` is that camera's model: read as the host's own, the bridge would be listed
as the camera (and as its maker). The patterns are data (`bridges` in the lexicon's
fields.yaml); this module only applies them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TXT_KEY = re.compile(r"^([^=\n]{1,16})=", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    service: re.Pattern[str]  # the services a bridge re-announces (mdns_service values)
    txt_keys: frozenset[str]  # keys of their TXT records
    names: re.Pattern[str]  # instance names of bridge software
    bridge_txt: re.Pattern[str]  # a TXT line that says "I am a bridge" (HAP ci=2)
    min_keys: int = 3  # a TXT with this many of txt_keys belongs to such a service


def bridged(pairs: Iterable[tuple[str, str]], spec: BridgeSpec | None) -> set[tuple[str, str]]:
    """The (protocol, value) pairs of a host that describe devices it bridges, not itself:
    empty unless the host shows a bridge (a bridge's instance name or TXT, or more than one
    re-announced service)."""
    if spec is None:
        return set()
    services = {v for p, v in pairs if p == "mdns_service" and spec.service.search(v)}
    txts = {v for p, v in pairs if p == "mdns_txt" and _is_reannounced_txt(v, spec)}
    if not services and not txts:
        return set()
    is_bridge = (
        len(services) > 1
        or any(spec.names.search(v) for v in services)
        or any(spec.bridge_txt.search(v) for v in txts)
    )
    if not is_bridge:
        return set()
    return {("mdns_service", v) for v in services} | {("mdns_txt", v) for v in txts}


def _is_reannounced_txt(value: str, spec: BridgeSpec) -> bool:
    keys = {k.strip().casefold() for k in _TXT_KEY.findall(value)}
    return len(keys & spec.txt_keys) >= spec.min_keys
