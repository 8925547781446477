"""What every protocol server of the simulator shares: audit log, certificates, interfaces."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

from camscan.lab.devsim.audit import AuditLog
from camscan.lab.devsim.certs import CertStore


@dataclass(frozen=True)
class Iface:
    name: str
    index: int


@dataclass
class SimContext:
    """`multicast` False (the 127.0.0.x test mode) means: unicast sockets only, no
    multicast/broadcast receive sockets and no mDNS."""

    audit: AuditLog
    certs: CertStore
    multicast: bool
    ifaces: dict[str, Iface] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    _warned: set[str] = field(default_factory=set)

    def warn_once(self, key: str, message: str) -> None:
        """Log a repeated problem (e.g. a handler bug on hostile input) only once."""
        if key not in self._warned:
            self._warned.add(key)
            sys.stderr.write(f"devsim: {message}\n")
            sys.stderr.flush()
