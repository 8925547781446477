"""What camscan does with a URL a device hands over: may it be fetched, and how it is kept.

A device's words are not orders. A URL from an answer (SSDP LOCATION, WS-Discovery XAddrs, an
HTTP redirect, a UPnP link) is fetched only when

* its scheme is http or https,
* its host is the address the answer came from, written as that address (no name, no other
  spelling of it), so that a forged answer can point camscan at nothing but its sender,
* its port is a web port (FETCH_PORTS, plus ports the scan itself found serving HTTP on that
  host) and never one of the vendor SDK / non-HTTP ports (SDK_PORTS), where an HTTP request is
  junk sent to a binary protocol,
* it carries no user info (camscan logs in nowhere it was not told to) and no query string (a
  query is where CGI commands live: `?action=reboot`); a fragment is never sent and is dropped.

`fetchable` then gives the URL rebuilt from those checked parts (`scheme://sender:port/path`),
so nothing of the handed-over text reaches the request but a checked path.

Every URL kept in the output (evidence values and `source`, notes, warnings) goes through
`keep_url`: user info, query and fragment removed, anything unparseable reduced to its scheme.
Pure functions, no sockets.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

# Ports an HTTP request may go to: the web ports the http module probes, the ports UPnP stacks
# serve their descriptions on (libupnp takes the first free one from 49152; Windows 2869; some
# routers 52869; Netgear 5555) and the ONVIF-only web ports of generic and TP-Link cameras (8899, 2020).
WEB_PORTS = frozenset({80, 81, 88, 443, 5000, 5001, 7001, 8001, 8080, 8081, 8443, 8888})
UPNP_PORTS = frozenset({2869, 5555, 49152, 49153, 49154, 49155, 52869})
ONVIF_PORTS = frozenset({2020, 8899})
FETCH_PORTS = WEB_PORTS | UPNP_PORTS | ONVIF_PORTS
# Never, whatever a device or a configuration says: vendor SDK and other non-HTTP services.
SDK_PORTS = frozenset({
    21, 22, 23, 25, 53, 554, 1900, 3702, 5353, 8554, 10554,  # FTP, SSH, Telnet, ..., RTSP
    8000,  # Hikvision SDK
    9000,  # Reolink Baichuan
    34567, 34568, 34599,  # Xiongmai (NetSurveillance)
    37777, 37778, 37020, 37810,  # Dahua DVRIP, discovery
    6036,  # Uniview / Tiandy SDK
    4520,  # Hanwha SUNAPI device port
})  # fmt: skip
OTHER_HOST = "URL names another host"
MAX_URL = 2048
MAX_PATH = 1024

_HOST_PORT = re.compile(r"^(?P<host>[0-9.]{7,15})(?::(?P<port>[0-9]{1,5}))?$")
_PATH_OK = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$")  # RFC 3986 path characters
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,15}:)?//")
_SANE_AUTHORITY = re.compile(
    r"^(?:[A-Za-z0-9._~-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """url: what to fetch (None: nothing); reason: why not, safe to show (no user info)."""

    url: str | None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.url is not None


def allowed_ports(extra: Iterable[int] = ()) -> frozenset[int]:
    """FETCH_PORTS plus `extra` (ports seen serving HTTP), never an SDK port."""
    return (FETCH_PORTS | frozenset(extra)) - SDK_PORTS


def fetchable(
    url: str | None,
    sender: str,
    *,
    ports: Iterable[int] | None = None,
    base: str | None = None,
    any_web_port: bool = False,
) -> Verdict:
    """May `url`, handed over by `sender`, be fetched? `ports`: the web ports allowed (default
    allowed_ports()); SDK_PORTS are refused whatever it holds. `base` resolves a relative URL
    (a redirect's Location against the URL that answered). any_web_port: every port but the
    SDK ports passes (for a module that only passes the URL on to the one that fetches it and
    checks the port against its own web ports)."""
    if not url or not url.strip():
        return Verdict(None, "empty URL")
    text = url.strip()
    if len(text) > MAX_URL or any(c <= " " or c == "\x7f" or c == "\\" for c in text):
        return Verdict(None, "malformed URL")
    try:
        if base is not None:
            text = urljoin(base, text)
        parts = urlsplit(text)
    except ValueError:
        return Verdict(None, "malformed URL")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return Verdict(None, "not an http(s) URL")
    if "@" in parts.netloc:
        return Verdict(None, "URL with user info")
    if parts.query or "?" in text:
        return Verdict(None, "URL with a query string")
    m = _HOST_PORT.match(parts.netloc)
    if m is None or not _same_address(m.group("host"), sender):
        return Verdict(None, OTHER_HOST)
    port = int(m.group("port")) if m.group("port") else (443 if scheme == "https" else 80)
    allowed = allowed_ports() if ports is None else frozenset(ports) - SDK_PORTS
    if port in SDK_PORTS or not (any_web_port or port in allowed):
        return Verdict(None, f"port {port} is not a web port")
    path = parts.path or "/"
    if len(path) > MAX_PATH or not _PATH_OK.match(path):
        return Verdict(None, "malformed path")
    return Verdict(f"{scheme}://{sender}:{port}{path}")


def _same_address(host: str, sender: str) -> bool:
    """`host` is written exactly as the dotted-quad sender address (no octal or short forms)."""
    try:
        return str(ipaddress.IPv4Address(host)) == host == str(ipaddress.IPv4Address(sender))
    except ValueError:
        return False


def keep_url(value: str | None) -> str | None:
    """A URL (or URI, or relative reference) as it may be kept in the output: no user info, no
    query, no fragment. An absolute URL whose authority is not a plain host[:port] once the
    user info is gone is cut to `scheme://…` (what is left of it could be a password)."""
    if value is None:
        return None
    text = re.split(r"[?#]", value, maxsplit=1)[0]
    m = _SCHEME.match(text)
    if m is None:
        return text
    rest = text[m.end() :]
    end = next((i for i, c in enumerate(rest) if c in "/\\"), len(rest))
    authority, path = rest[:end], rest[end:]
    host = authority.rpartition("@")[2]
    if authority and not _SANE_AUTHORITY.match(host):
        return f"{m.group(0)}…"
    return f"{m.group(0)}{host}{path}"


def keep_urls(text: str) -> str:
    """Every whitespace-separated token of `text` that looks like a URL, kept as keep_url
    keeps it (for values that hold several URIs, e.g. WS-Discovery scopes)."""
    return " ".join(keep_url(t) or "" if "//" in t or "?" in t else t for t in text.split(" "))


__all__ = [
    "FETCH_PORTS",
    "SDK_PORTS",
    "WEB_PORTS",
    "Verdict",
    "allowed_ports",
    "fetchable",
    "keep_url",
    "keep_urls",
]
