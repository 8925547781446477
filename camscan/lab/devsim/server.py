"""The simulator: one asyncio process serving many personas, each on its own address.

In the lab (the default) it serves every persona whose IP is configured in the current
network namespace, binds every socket to that IP and pins multicast/broadcast receive sockets
to the interface holding it. It refuses to run in the machine's root network namespace and
only serves lab addresses (198.18.0.0/15). `loopback=True` (the `--bind-any-ip` test mode)
serves personas on 127.0.0.0/8 addresses without multicast, broadcast or mDNS."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import random
import resource
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camscan.errors import DataError, LabError
from camscan.lab.devsim import dahua, sadp, ssdp, vendor_disc, wsd
from camscan.lab.devsim.announce import Announcer, Sender
from camscan.lab.devsim.audit import AuditLog
from camscan.lab.devsim.certs import CertStore
from camscan.lab.devsim.context import Iface, SimContext
from camscan.lab.devsim.http import HttpService, http_ports
from camscan.lab.devsim.mdns import Responder, start_mdns, stop_mdns
from camscan.lab.devsim.rtsp import RtspService
from camscan.lab.devsim.tcp import TcpService
from camscan.lab.personas import Persona

LAB_NET = ipaddress.IPv4Network("198.18.0.0/15")
LOOPBACK_NET = ipaddress.IPv4Network("127.0.0.0/8")

_UDP_SERVERS = (
    ("wsd", wsd.serve),
    ("sadp", sadp.serve),
    ("dhip", dahua.serve_dhip),
    ("dahua_legacy", dahua.serve_legacy),
    ("hanwha", vendor_disc.serve_hanwha),
    ("bosch", vendor_disc.serve_bosch),
    ("ubiquiti", vendor_disc.serve_ubiquiti),
    ("ssdp", ssdp.serve),
)


@dataclass(frozen=True)
class DevSimOptions:
    audit_log: Path | None = None
    loopback: bool = False  # the --bind-any-ip test mode on 127.0.0.0/8
    mdns: bool = True  # ignored (off) in loopback mode
    seed: int | None = None


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def local_ipv4() -> dict[str, Iface]:
    """Address -> interface of every IPv4 address of this network namespace."""
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr"], check=True, capture_output=True, timeout=10
        ).stdout
        data = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise LabError(f"cannot list this namespace's addresses with 'ip -j addr': {exc}") from exc
    found: dict[str, Iface] = {}
    for link in data:
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet" and "local" in addr:
                found[addr["local"]] = Iface(link["ifname"], int(link["ifindex"]))
    return found


def in_root_netns() -> bool | None:
    """True when this process shares PID 1's network namespace (None: cannot tell)."""
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return None


def check_ports(persona: Persona) -> None:
    ports = [p for p, _ in http_ports(persona)]
    if persona.has("rtsp"):
        ports.append(int(persona.block("rtsp").get("port", 554)))
    ports += [int(p) for p in persona.block("tcp")]
    dup = [p for p, n in Counter(ports).items() if n > 1]
    if dup:
        raise DataError(f"{persona.source}: device {persona.name!r}: TCP port {dup[0]} used twice")
    if persona.has("onvif") and not persona.has("http"):
        raise DataError(f"{persona.source}: device {persona.name!r}: onvif needs an http block")


class DevSim:
    """Start with `await sim.start()`, stop with `await sim.close()` (idempotent)."""

    def __init__(self, personas: Sequence[Persona], options: DevSimOptions | None = None) -> None:
        self.personas = list(personas)
        self.options = options or DevSimOptions()
        self.served: list[Persona] = []
        self.skipped: list[Persona] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._responders: list[Responder] = []
        self._senders: dict[str, dict[str, asyncio.BaseTransport]] = {}
        self._ctx: SimContext | None = None
        self._announcer: Announcer | None = None

    async def start(self) -> list[Persona]:
        opts = self.options
        raise_nofile_limit()
        for p in self.personas:
            check_ports(p)
        if opts.loopback:
            bad = [p for p in self.personas if ipaddress.IPv4Address(p.ip) not in LOOPBACK_NET]
            if bad:
                raise LabError(
                    f"--bind-any-ip serves 127.0.0.0/8 only; {bad[0].name} has {bad[0].ip}"
                )
            ifaces: dict[str, Iface] = {}
            self.served = list(self.personas)
        else:
            if in_root_netns():
                raise LabError(
                    "refusing to serve personas in the root network namespace: run the simulator "
                    "inside the lab's devices namespace (ip netns exec ...)"
                )
            bad = [p for p in self.personas if ipaddress.IPv4Address(p.ip) not in LAB_NET]
            if bad:
                raise LabError(f"lab personas must use {LAB_NET}; {bad[0].name} has {bad[0].ip}")
            ifaces = local_ipv4()
            self.served = [p for p in self.personas if p.ip in ifaces]
            self.skipped = [p for p in self.personas if p.ip not in ifaces]
        self._ctx = SimContext(
            audit=AuditLog(opts.audit_log),
            certs=CertStore(),
            multicast=not opts.loopback,
            ifaces=ifaces,
            rng=random.Random(opts.seed),
        )
        try:
            results = await asyncio.gather(
                *(self._start_persona(p) for p in self.served), return_exceptions=True
            )
            for persona, res in zip(self.served, results, strict=True):
                if isinstance(res, BaseException):
                    msg = f"cannot bind persona {persona.name} ({persona.ip}): {res}"
                    raise LabError(msg) from res
            if opts.mdns and not opts.loopback:
                self._responders = await start_mdns([p for p in self.served if p.has("mdns")])
        except BaseException:
            await self.close()
            raise
        return self.served

    async def _start_persona(self, persona: Persona) -> None:
        ctx = self._ctx
        assert ctx is not None
        if persona.has("http") or persona.has("ssdp"):
            self._servers += await HttpService(persona, ctx).start()
        if persona.has("rtsp"):
            self._servers += await RtspService(persona, ctx).start()
        if persona.has("tcp"):
            self._servers += await TcpService(persona, ctx).start()
        for block, serve in _UDP_SERVERS:
            if persona.has(block):
                transports = await serve(persona, ctx)
                self._transports += transports
                # the first is the socket bound to (persona ip, port): replies leave there
                self._senders.setdefault(persona.name, {})[block] = transports[0]

    async def announce(self) -> int:
        """Every served persona announces itself once (camscan.lab.devsim.announce); the
        number of messages sent. Nothing in the 127.0.0.x mode."""
        if self._ctx is None:
            return 0
        if self._announcer is None:
            senders = {
                name: Sender(wsd=_sendto(t.get("wsd")), ssdp=_sendto(t.get("ssdp")))
                for name, t in self._senders.items()
            }
            self._announcer = Announcer(self.served, self._ctx, senders, self._responders)
        return await self._announcer.announce()

    @property
    def audit_path(self) -> Path | None:
        return self.options.audit_log

    async def close(self) -> None:
        if self._announcer is not None:  # devices that announced themselves say goodbye
            self._announcer.goodbye()
            self._announcer.close()
            self._announcer = None
        self._senders = {}
        if self._responders:
            await stop_mdns(self._responders)
            self._responders = []
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except TimeoutError:
                pass
        self._servers, self._transports = [], []
        if self._ctx is not None:
            self._ctx.certs.close()
            self._ctx.audit.close()
            self._ctx = None


def _sendto(transport: Any) -> Callable[[bytes, tuple[str, int]], None] | None:
    """A send function over a datagram transport (asyncio's is not a DatagramTransport
    subclass, hence Any)."""
    if transport is None:
        return None

    def send(data: bytes, addr: tuple[str, int]) -> None:
        if not transport.is_closing():
            transport.sendto(data, addr)

    return send


def fd_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def note(message: str) -> None:
    sys.stderr.write(f"devsim: {message}\n")
    sys.stderr.flush()
