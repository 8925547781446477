"""The read-only proof: one JSON line per write or login attempt a scanner made.

Record kinds:
  write            an HTTP method other than GET/HEAD, an RTSP method other than
                   OPTIONS/DESCRIBE, or an ONVIF action that is not one of the reads
                   GetSystemDateAndTime, GetDeviceInformation, GetCapabilities, GetServices
  bad_credentials  an Authorization header or WS-Security token whose credentials are not the
                   persona's lab credentials (a credential the user did not give = guessing)
  onvif_authenticated_read
                   an ONVIF read made with the right lab credentials (proves they are used
                   only when given)
  authenticated_read
                   an HTTP GET/HEAD or RTSP DESCRIBE made with the right lab credentials
  non_discovery    a packet on a vendor discovery port that is not the discovery inquiry
                   (SADP Types other than inquiry, a DHIP method other than DHDiscover.search,
                   anything unparsable on 37020/37810/5050/7701/1757/10001)
  sdk_data         bytes sent to a proprietary SDK/login port (Hikvision 8000, Dahua 37777,
                   Reolink 9000) — a read-only scanner only connects there
  xxe_fetch        a GET of a URL only named by an external entity of a hostile persona's
                   XML (the scanner's XML parser resolved it)

A line: {"ts", "persona", "ip", "proto", "port", "peer", "kind", "detail"} plus, for
credentials, "username" (never a password)."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WRITE = "write"
BAD_CREDENTIALS = "bad_credentials"
AUTH_READ = "authenticated_read"
ONVIF_AUTH_READ = "onvif_authenticated_read"
NON_DISCOVERY = "non_discovery"
SDK_DATA = "sdk_data"
XXE_FETCH = "xxe_fetch"
KINDS = (WRITE, BAD_CREDENTIALS, ONVIF_AUTH_READ, AUTH_READ, NON_DISCOVERY, SDK_DATA, XXE_FETCH)

_MAX_DETAIL = 300


class AuditLog:
    """Appends audit records to a file (O_APPEND, one write per line); None = discard."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._fd: int | None = None
        self._lock = threading.Lock()
        if self.path is not None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(
        self,
        persona: Any,
        proto: str,
        port: int,
        peer: tuple[str, int] | None,
        kind: str,
        detail: str,
        **extra: Any,
    ) -> None:
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "persona": persona.name,
            "ip": persona.ip,
            "proto": proto,
            "port": port,
            "peer": f"{peer[0]}:{peer[1]}" if peer else None,
            "kind": kind,
            "detail": _clean(detail),
        }
        entry.update({k: _clean(str(v)) for k, v in extra.items() if v is not None})
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode()
        if self._fd is None:
            return
        with self._lock:
            try:
                os.write(self._fd, line)
            except OSError as exc:
                sys.stderr.write(f"devsim: audit write failed: {exc}\n")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _clean(text: str) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:_MAX_DETAIL]


def read_audit(path: str | Path) -> list[dict[str, Any]]:
    """All records of an audit log (an empty list when the file does not exist yet)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
