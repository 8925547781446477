"""DNS questions out of query packets, and the vendor cloud names worth reporting.

A camera that looks up its maker's cloud or P2P service names its maker, whatever label is on
the box. Only names below VENDOR_DOMAINS and the vendor-cloud lexicon are reported (the
fingerprint rules and lexicons for `dns_query` decide what they mean); every other lookup on the
network is none of camscan's business.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from functools import lru_cache

from camscan.errors import ParseError

# Registered domains of vendor cloud, P2P and DDNS services that devices contact on their own.
# A phone running the vendor's app looks them up too: rules should weigh that.
VENDOR_DOMAINS: tuple[str, ...] = (
    # Hikvision: Hik-Connect cloud/P2P, HiDDNS, EZVIZ (Hikvision's consumer brand, ys7 in China)
    "hik-connect.com",
    "hiddns.com",
    "ezvizlife.com",
    "ys7.com",
    # Dahua: Easy4ip / Imou cloud and P2P, Lechange (Dahua's consumer brand in China), Quick DDNS
    "easy4ip.com",
    "easy4ipcloud.com",
    "imoulife.com",
    "lechange.cn",
    "quickddns.com",
    # Amcrest (Dahua relabel) cloud
    "amcrestcloud.com",
)
_MAX_NAMES = 8
_MAX_NAME_LEN = 253


@lru_cache(maxsize=1)
def known_domains() -> frozenset[str]:
    """VENDOR_DOMAINS and every domain of the vendor-cloud lexicon
    (fingerprints/lexicon/*.yaml `clouds`): the names worth reporting."""
    from camscan.fingerprint.rules import _read_yaml, default_fingerprint_dir

    def clouds() -> Iterator[list[str]]:
        for path in sorted((default_fingerprint_dir() / "lexicon").glob("*.yaml")):
            for cloud in (_read_yaml(path) or {}).get("clouds") or []:
                domains = cloud.get("domains") if isinstance(cloud, dict) else None
                if isinstance(domains, str):
                    domains = [domains]
                yield [d for d in domains or [] if isinstance(d, str)]

    return cloud_domains(clouds())


def cloud_domains(clouds: Iterable[Iterable[str]]) -> frozenset[str]:
    """VENDOR_DOMAINS and the domains of the clouds an engine loaded (its lexicon, a user's
    fingerprint folders included)."""
    found = set(VENDOR_DOMAINS)
    for domains in clouds:
        found.update(d.strip(". ").casefold() for d in domains if d.strip(". "))
    return frozenset(found)


def vendor_domain(name: str, domains: Iterable[str] | None = None) -> str | None:
    """The listed domain `name` is (or is below), else None (default list: known_domains())."""
    if domains is None:
        listed = known_domains()
    else:
        listed = domains if isinstance(domains, frozenset) else frozenset(domains)
    labels = name.rstrip(".").casefold().split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if candidate in listed:
            return candidate
    return None


def _name(data: bytes, off: int) -> tuple[str, int]:
    """One (possibly compressed) name at off -> (lower-case name without the dot, next offset)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    length = 0
    while True:
        if off >= len(data):
            raise ParseError("DNS name runs past the packet")
        n = data[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(data):
                raise ParseError("DNS pointer runs past the packet")
            if end < 0:
                end = off + 2
            jumps += 1
            if jumps > 16:
                raise ParseError("DNS name pointer loop")
            off = ((n & 0x3F) << 8) | data[off + 1]
            continue
        if n & 0xC0:
            raise ParseError("DNS label with reserved type")
        label = data[off + 1 : off + 1 + n]
        if len(label) != n:
            raise ParseError("DNS label runs past the packet")
        length += n + 1
        if length > _MAX_NAME_LEN + 1:
            raise ParseError("DNS name too long")
        labels.append(label.decode("ascii", "replace").lower())
        off += 1 + n
    return ".".join(labels), end if end >= 0 else off


def query_names(data: bytes) -> list[str]:
    """The question names of a DNS query (empty for responses); ParseError on garbage."""
    if len(data) < 12:
        raise ParseError("DNS header truncated")
    _ident, flags, qdcount = struct.unpack_from("!HHH", data, 0)
    if flags & 0x8000:
        return []
    if flags & 0x7800:  # opcode other than QUERY
        return []
    names: list[str] = []
    off = 12
    for _ in range(min(qdcount, _MAX_NAMES)):
        name, off = _name(data, off)
        if off + 4 > len(data):
            raise ParseError("DNS question truncated")
        off += 4
        if name:
            names.append(name)
    return names
