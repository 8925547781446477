"""Firmware version strings -> comparable records. Pure functions: text in, Firmware out, or
ParseError (never any other exception: the text comes from devices and may be anything).

Forms read:
  Hikvision  `V5.4.5 build 170124`, `V5.5.800build 210628`, `V5.5.800_210628`,
             `V3.5.38build 191215` (build = YYMMDD), or `V5.4.5` alone (build unknown)
  Dahua      `2.800.0000000.16.R, Build Date: 2019-12-04`, `V2.800.0000000.16.R,build:2019-12-04`,
             `build:2024-01-16`, `buildDate=2019-12-04`
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from camscan.errors import ParseError

MAX_TEXT = 512
FORMATS = ("hikvision", "dahua")

_HIK_BUILD = re.compile(
    r"(?<![\w.])V?(?P<ver>\d{1,3}(?:\.\d{1,5}){1,3})\s*(?:build\s*|_)(?P<build>\d{6})(?!\d)",
    re.IGNORECASE,
)
_HIK_BARE = re.compile(r"(?<![\w.])V(?P<ver>\d{1,3}(?:\.\d{1,5}){1,3})(?![\d.])", re.IGNORECASE)
_DAHUA_BUILD = re.compile(
    r"build(?:[\s_]*date)?\s*[:=]?\s*(?P<y>\d{4})[-./](?P<m>\d{1,2})[-./](?P<d>\d{1,2})(?!\d)",
    re.IGNORECASE,
)
_DAHUA_VERSION = re.compile(r"(?<![\w.])V?(?P<ver>\d{1,3}\.\d{1,5}(?:\.[0-9A-Za-z]{1,12}){0,6})")


@dataclass(frozen=True, slots=True)
class Firmware:
    vendor: str  # hikvision | dahua
    version: tuple[int, ...]  # numeric version parts; () when unknown
    build: dt.date | None  # the build date, when the string carries one
    version_text: str = ""

    def __str__(self) -> str:
        parts = []
        if self.version_text:
            parts.append(f"V{self.version_text}")
        if self.build is not None:
            if self.vendor == "hikvision":
                parts.append(f"build {self.build:%y%m%d}")
            else:
                parts.append(f"build {self.build.isoformat()}")
        return " ".join(parts) or "(unknown)"


def _clip(text: object) -> str:
    if not isinstance(text, str):
        raise ParseError("firmware is not text")
    return text[:MAX_TEXT]


def _yymmdd(digits: str) -> dt.date:
    try:
        return dt.date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        raise ParseError(f"build {digits!r} is not a YYMMDD date") from None


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def parse_hikvision(text: str) -> Firmware:
    s = _clip(text)
    m = _HIK_BUILD.search(s)
    if m is not None:
        return Firmware("hikvision", _numbers(m["ver"]), _yymmdd(m["build"]), m["ver"])
    m = _HIK_BARE.search(s)
    if m is not None:
        return Firmware("hikvision", _numbers(m["ver"]), None, m["ver"])
    raise ParseError(f"no Hikvision version in {s[:60]!r}")


def parse_dahua(text: str) -> Firmware:
    s = _clip(text)
    m = _DAHUA_BUILD.search(s)
    if m is None:
        raise ParseError(f"no Dahua build date in {s[:60]!r}")
    try:
        build = dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        raise ParseError(f"build date {m.group(0)!r} is not a date") from None
    v = _DAHUA_VERSION.search(s[: m.start()])
    ver = v["ver"] if v else ""
    return Firmware("dahua", _numbers(ver), build, ver)


def parse_firmware(fmt: str, text: str) -> Firmware:
    if fmt == "hikvision":
        return parse_hikvision(text)
    if fmt == "dahua":
        return parse_dahua(text)
    raise ParseError(f"unknown firmware format {fmt!r}")


def parse_date(fmt: str, text: str) -> dt.date:
    """A threshold from the data file: YYMMDD for Hikvision, YYYY-MM-DD for Dahua."""
    if fmt == "hikvision" and re.fullmatch(r"\d{6}", text):
        return _yymmdd(text)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ParseError(f"{text!r} is not a build date") from None


def in_range(fw: Firmware, lo: Firmware, hi: Firmware) -> bool | None:
    """Is (version, build) within [lo, hi]? None when the build is missing and the version
    alone sits on a boundary (cannot tell)."""
    if fw.build is not None:
        # Both must hold: a build released after the last affected build is not in the range
        # whatever its version says (relabel firmware numbers its versions its own way).
        if (lo.build and fw.build < lo.build) or (hi.build and fw.build > hi.build):
            return False
        return lo.version <= fw.version <= hi.version
    if lo.version < fw.version < hi.version:
        return True
    if fw.version in (lo.version, hi.version):
        return None
    return False
