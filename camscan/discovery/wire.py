"""Small decoding helpers shared by the discovery parsers (pure: bytes in, values out).

Everything here treats its input as hostile: XML goes through defusedxml with DTDs refused,
text is decoded without ever raising, and every failure becomes a ParseError.
"""

from __future__ import annotations

import ipaddress
import re
import time
import xml.etree.ElementTree as ET  # noqa: S405 - only for the Element type and ParseError
from collections.abc import Iterator

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from camscan.errors import ParseError
from camscan.model import Evidence

_MAC_HEX = re.compile(r"[0-9A-Fa-f]{2}(?:[:\-.]?[0-9A-Fa-f]{2}){5}")


def parse_xml(data: bytes, *, max_size: int, what: str) -> ET.Element:
    """Parse device XML safely: size-capped, no DTD (so no entity bombs, no external entities)."""
    if len(data) > max_size:
        raise ParseError(f"{what}: {len(data)} bytes exceeds the {max_size}-byte cap")
    if not data.strip():
        raise ParseError(f"{what}: empty")
    try:
        return _defused_fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, ET.ParseError) as exc:
        raise ParseError(f"{what}: not acceptable XML ({type(exc).__name__})") from None
    except (ValueError, LookupError, UnicodeError, RecursionError, TypeError) as exc:
        raise ParseError(f"{what}: unreadable XML ({type(exc).__name__})") from None


def local(tag: object) -> str:
    """'{urn:ns}Name' -> 'Name' (comments and processing instructions give '')."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def children(el: ET.Element, name: str) -> Iterator[ET.Element]:
    """Direct children of el whose local name is name."""
    for child in el:
        if local(child.tag) == name:
            yield child


def child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next(children(el, name), None)


def text(el: ET.Element | None, *, limit: int = 1024) -> str | None:
    """The stripped text of a leaf element, capped; None when absent or empty."""
    if el is None or el.text is None:
        return None
    value = el.text.strip()[:limit]
    return value or None


def clean_key(key: str, limit: int = 64) -> str:
    """A device-chosen key made safe for key=value lines: no line breaks or other
    non-printable characters, no '=' (kv_lines flattens values, not keys, so a key with a
    line break could forge a line)."""
    return "".join(c if c.isprintable() and c != "=" else "_" for c in key[:limit]).strip()


def normalize_mac(value: str | bytes | None) -> str | None:
    """'28-57-BE-00-00-01', '2857be000001', six raw bytes ... -> '28:57:be:00:00:01'."""
    if value is None:
        return None
    if isinstance(value, bytes):
        if len(value) == 6:
            return ":".join(f"{b:02x}" for b in value)
        value = value.decode("ascii", "replace")
    m = _MAC_HEX.fullmatch(value.strip())
    if not m:
        return None
    digits = re.sub(r"[^0-9A-Fa-f]", "", m.group(0)).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def find_mac(value: str) -> str | None:
    """The first MAC-looking token in a piece of text."""
    m = re.search(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{2}(?:[:\-][0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f])", value)
    return normalize_mac(m.group(0)) if m else None


def ipv4_text(value: object) -> str | None:
    """A dotted-quad IPv4 address, or None when value is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        return None


def ipv4_bytes(raw: bytes) -> str | None:
    """Four bytes in network order -> dotted quad."""
    if len(raw) != 4:
        return None
    return str(ipaddress.IPv4Address(raw))


def cstr(raw: bytes) -> str:
    """A NUL-terminated, fixed-size text field -> str (undecodable bytes replaced)."""
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()


def printable_runs(raw: bytes, *, min_len: int = 3, limit: int = 64) -> list[str]:
    """Runs of printable ASCII (like `strings`) in binary data, in order, capped."""
    found = re.findall(rb"[\x20-\x7e]{%d,}" % min_len, raw)
    return [s.decode("ascii").strip() for s in found[:limit] if s.strip()]


def evidence(
    *,
    module: str,
    protocol: str,
    value: str,
    ip: str | None,
    port: int | None,
    transport: str | None = "udp",
    mac: str | None = None,
    source: str | None = None,
    observed_at: float | None = None,
    packet: int | None = None,
) -> Evidence:
    return Evidence(
        module=module,
        protocol=protocol,
        value=value,
        ip=ip,
        mac=mac,
        port=port,
        transport=transport,
        source=source,
        observed_at=time.time() if observed_at is None else observed_at,
        packet=packet,
    )


def url_host(ip: str, port: int | None = None) -> str:
    """The host part of a URL for an address (IPv6 in brackets), with the port if given."""
    host = f"[{ip}]" if ":" in ip else ip
    return f"{host}:{port}" if port else host
