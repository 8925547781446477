"""Reading the text a binary discovery reply carries when its exact layout is not public:
NUL-separated printable strings, classified as MAC, IPv4 addresses, URLs and the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from camscan.discovery.wire import find_mac, ipv4_text, printable_runs

_URL = re.compile(r"https?://[\x21-\x7e]{1,200}")
# Camera model numbers: letters, optional dash, then letters/digits (XNO-6080R, WV-S1131).
MODEL = re.compile(r"^[A-Z]{1,5}-?[A-Z]{0,3}\d[A-Z0-9\-/.]{1,30}$")
VERSION = re.compile(r"^[vV]?\d+(?:\.\d+){1,3}(?:[ _\-.][\w.\-]{0,40})?$")


@dataclass(slots=True)
class TextFields:
    mac: str | None = None
    ips: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def model(self) -> str | None:
        return next((s for s in self.other if MODEL.match(s)), None)

    def version(self) -> str | None:
        return next((s for s in self.other if VERSION.match(s)), None)


def text_fields(raw: bytes, *, limit: int = 32, ips: bool = True) -> TextFields:
    """Classify the printable strings of raw (at most `limit` kept as `other`). With
    ips=False dotted quads stay in `other` (a version string can look like an address)."""
    out = TextFields()
    for run in printable_runs(raw, min_len=3, limit=128):
        if out.mac is None and (mac := find_mac(run)) and len(run) <= 20:
            out.mac = mac
        elif ips and (ip := ipv4_text(run)):
            out.ips.append(ip)
        elif url := _URL.match(run):
            out.urls.append(url.group(0))
        elif len(out.other) < limit:
            out.other.append(run)
    return out
