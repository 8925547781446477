"""The lab device simulator: one asyncio process answering, per persona, WS-Discovery, mDNS,
SSDP, Hikvision SADP, Dahua DHIP/5050, Hanwha/Bosch/Ubiquiti discovery, HTTP(S) with the
vendor's headers, pages and certificates, RTSP OPTIONS/DESCRIBE and the ONVIF device service,
and recording every write or login attempt in an audit log (the read-only proof).

    sim = DevSim(personas, DevSimOptions(audit_log=path, loopback=False))
    await sim.start(); ...; await sim.close()
    read_audit(path) -> list[dict]

CLI: python -m camscan.lab.devsim --help"""

from __future__ import annotations

from camscan.lab.devsim.audit import (
    AUTH_READ,
    BAD_CREDENTIALS,
    KINDS,
    NON_DISCOVERY,
    ONVIF_AUTH_READ,
    SDK_DATA,
    WRITE,
    read_audit,
)
from camscan.lab.devsim.server import DevSim, DevSimOptions

__all__ = [
    "AUTH_READ",
    "BAD_CREDENTIALS",
    "KINDS",
    "NON_DISCOVERY",
    "ONVIF_AUTH_READ",
    "SDK_DATA",
    "WRITE",
    "DevSim",
    "DevSimOptions",
    "read_audit",
]
