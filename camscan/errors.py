"""camscan's exceptions. One root, so callers can catch everything camscan raises on purpose:

CamscanError
├── UsageError            bad user input: a target, an option, a file path
├── FingerprintError      a broken fingerprint file or rule (names file and rule id)
├── DataError             a broken bundled/user data file (policy, prices, personas)
├── DeviceListError       a JSON file that is not a camscan device list (or another version)
├── CaptureError          a capture file that cannot be read at all
├── LabError              the emulated lab cannot be built here
└── ParseError            a device sent bytes a parser could not read (never escapes a scan)
"""

from __future__ import annotations


class CamscanError(Exception):
    """Root of camscan's own errors; str() is the one-line message shown to users."""


class UsageError(CamscanError):
    """Bad user input."""


class FingerprintError(CamscanError):
    """A fingerprint file or rule is broken."""


class DataError(CamscanError):
    """A data file (policy, prices, personas) is broken."""


class DeviceListError(CamscanError):
    """Not a camscan device list, or another schema version."""


class CaptureError(CamscanError):
    """A capture that cannot be read at all."""


class LabError(CamscanError):
    """The emulated lab cannot be built on this machine."""


class ParseError(CamscanError):
    """Device bytes a parser could not make sense of."""


def exception_chain(exc: BaseException, limit: int = 8) -> list[BaseException]:
    """exc and its causes (or contexts), outermost first: httpx wraps the OSError or
    ssl.SSLError that says what really went wrong."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < limit:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen
