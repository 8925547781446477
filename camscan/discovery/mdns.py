"""mDNS / DNS-SD: browse camera-relevant service types (and whatever else hosts enumerate under
`_services._dns-sd._udp`), resolve each instance, emit its name and TXT.

Axis cameras announce `_axis-video._tcp` with instance names like `AXIS <model> - <MAC>` and a
`macaddress=` TXT key; printers, NAS boxes and PCs announce theirs, which helps tell decoys
apart. Everything is bounded: service types, instances, and the time spent resolving.

Who said it: zeroconf only asks (browse and resolve queries, all QM so that answers are
multicast); what the answers say is read from camscan's own socket on 224.0.0.251:5353, which
receives a copy of every response with its sender's address (camscan.passive.mdnsread parses
it). zeroconf's cache cannot be used for that: it merges the records of every sender, so an
A record from any host could name any address. Here each sender's records are kept apart and
its services are evidence about the sender alone; when its A records for the service's host
name only other addresses, nothing is attributed and the sender gets a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from zeroconf import DNSQuestionType, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.udp import open_socket
from camscan.discovery.wire import clean_key, evidence
from camscan.model import Evidence
from camscan.passive.mdnsread import MAX_ADDRESSES, mdns_answer
from camscan.protocols import kv_lines

GROUP = "224.0.0.251"
PORT = 5353
SERVICES = "_services._dns-sd._udp.local."
SERVICE_TYPES: tuple[str, ...] = (
    "_axis-video._tcp.local.",
    "_axis-nvr._tcp.local.",
    "_arec._tcp.local.",
    "_http._tcp.local.",
    "_https._tcp.local.",
    "_rtsp._tcp.local.",
    "_onvif._tcp.local.",
    "_hap._tcp.local.",
    "_homekit._tcp.local.",
    "_ipp._tcp.local.",
    "_ipps._tcp.local.",
    "_printer._tcp.local.",
    "_pdl-datastream._tcp.local.",
    "_smb._tcp.local.",
    "_afpovertcp._tcp.local.",
    "_device-info._tcp.local.",
    "_googlecast._tcp.local.",
    "_airplay._tcp.local.",
    "_raop._tcp.local.",
    "_workstation._tcp.local.",
    "_ssh._tcp.local.",
    "_sftp-ssh._tcp.local.",
)
MAX_TYPES = 64  # service types browsed, the fixed ones included
MAX_INSTANCES = 512  # instances resolved, and instances kept, per scan
MAX_INSTANCES_PER_IP = 32
MAX_TXT_PAIRS = 64
MAX_HOST_NAMES = 32  # host names whose A records are kept, per sender
RESOLVE_CONCURRENCY = 32


def _decode(raw: bytes | None, limit: int = 512) -> str:
    return raw[:limit].decode("utf-8", "replace") if raw is not None else ""


def txt_lines(txt: dict[bytes, bytes | None]) -> str:
    """A TXT record as key=value lines (a key without value gives `key=`)."""
    pairs = [
        (clean_key(_decode(k, 64)), _decode(v)) for k, v in list(txt.items())[:MAX_TXT_PAIRS] if k
    ]
    return kv_lines(pairs)


def mdns_evidence(
    instance_name: str,
    addresses: Sequence[str],
    txt: dict[bytes, bytes | None],
    server: str | None,
    *,
    module: str = "mdns",
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """For each IPv4 address of the instance: mdns_service (the full instance name) and, when
    the TXT record has content, mdns_txt. source = the host name the SRV record names."""
    txt_value = txt_lines(txt) if txt else ""
    out: list[Evidence] = []
    for ip in dict.fromkeys(addresses):
        common = {
            "module": module,
            "ip": ip,
            "port": PORT,
            "source": server,
            "observed_at": observed_at,
            "packet": packet,
        }
        out.append(evidence(protocol="mdns_service", value=instance_name, **common))
        if txt_value:
            out.append(evidence(protocol="mdns_txt", value=txt_value, **common))
    return out


@dataclass(slots=True)
class _Instance:
    server: str | None = None  # from the sender's SRV record
    txt: dict[bytes, bytes | None] = field(default_factory=dict)


@dataclass(slots=True)
class _Sender:
    """What one address said, over all its answers."""

    instances: dict[str, _Instance] = field(default_factory=dict)
    hosts: dict[str, list[str]] = field(default_factory=dict)  # host name -> A record addresses
    over: bool = False  # described more than MAX_INSTANCES_PER_IP instances


class Heard:
    """The answers camscan's own socket received, kept per sender. `received` takes one
    datagram (answers from outside the targets are reported, not read; queries are skipped);
    `emit` turns each sender's services into evidence about that sender."""

    def __init__(self, ctx: ScanContext, module: str) -> None:
        self.ctx, self.module = ctx, module
        self.senders: dict[str, _Sender] = {}
        self.instances = 0  # kept, over all senders
        self.max_datagrams = max(1, ctx.settings.max_datagrams)
        self._seen: set[tuple[bytes, str]] = set()
        self.dropped = 0

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or not data[2] & 0x80:
            return  # a query (a browser, or us) or a runt: nobody's answer
        ip = addr[0]
        if not self.ctx.in_scope(ip):
            self.ctx.heard_outside(self.module, ip)  # dropped unread, and the scan says so
            return
        key = (hashlib.blake2b(data, digest_size=16).digest(), ip)
        if key in self._seen:
            return
        if len(self._seen) >= self.max_datagrams:
            self.dropped += 1
            return
        self._seen.add(key)
        answer = mdns_answer(data)
        if answer is None:
            return
        sender = self.senders.get(ip)
        if sender is None:
            sender = self.senders[ip] = _Sender()
        for name, svc in answer.services.items():
            inst = sender.instances.get(name)
            if inst is None:
                if len(sender.instances) >= MAX_INSTANCES_PER_IP:
                    sender.over = True
                    continue
                if self.instances >= MAX_INSTANCES:
                    self.ctx.warn(self.module, f"more than {MAX_INSTANCES} services; "
                                  "ignoring the rest")  # fmt: skip
                    continue
                inst = sender.instances[name] = _Instance()
                self.instances += 1
            if svc.server:
                inst.server = svc.server
            if svc.txt:
                inst.txt = svc.txt
        for host, addresses in answer.hosts.items():
            known = sender.hosts.get(host)
            if known is None:
                if len(sender.hosts) >= MAX_HOST_NAMES:
                    continue
                known = sender.hosts[host] = []
            for a in addresses:
                if a not in known and len(known) < MAX_ADDRESSES:
                    known.append(a)

    def emit(self) -> None:
        """Evidence about each sender: the instances it gave a host name for (SRV), unless
        its A records for that name state only other addresses (then a note on the sender)."""
        ctx = self.ctx
        for ip, sender in self.senders.items():
            if sender.over:
                ctx.warn(self.module, f"{ip} announces more than {MAX_INSTANCES_PER_IP} "
                         "services; ignoring the rest")  # fmt: skip
            for name, inst in sender.instances.items():
                if inst.server is None:
                    continue  # a name without a host: nothing says it runs on the sender
                stated = sender.hosts.get(inst.server.lower(), [])
                if stated and ip not in stated:
                    ctx.note(ip, f"mDNS answer states address {', '.join(stated)} for "
                             f"{name[:120]!r}; not attributed")  # fmt: skip
                    continue
                for ev in mdns_evidence(name, [ip], inst.txt, inst.server, module=self.module):
                    ctx.emit(ev)
        if self.dropped:
            ctx.warn(self.module, f"kept the first {self.max_datagrams} answers, "
                     "ignored the rest")  # fmt: skip


class _Listen(asyncio.DatagramProtocol):
    def __init__(self, heard: Heard) -> None:
        self.heard = heard

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.heard.received(data, addr)


class _Browse:
    """The state of one browsing window: which types are browsed, which instances resolved.
    zeroconf here only sends the queries; answers are read by `Heard`."""

    def __init__(self, ctx: ScanContext, module: str, aiozc: AsyncZeroconf) -> None:
        self.ctx, self.module, self.aiozc = ctx, module, aiozc
        self.types: set[str] = set()
        self.browsers: list[AsyncServiceBrowser] = []
        self.instances: set[tuple[str, str]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.sem = asyncio.Semaphore(RESOLVE_CONCURRENCY)
        self.resolve_ms = int(min(ctx.settings.io_timeout, 3.0) * 1000)

    def browse(self, types: Sequence[str]) -> None:
        fresh = [t for t in types if t not in self.types][: MAX_TYPES - len(self.types)]
        if not fresh:
            return
        self.types.update(fresh)
        self.browsers.append(
            AsyncServiceBrowser(
                self.aiozc.zeroconf,
                fresh,
                handlers=[self.on_change],
                question_type=DNSQuestionType.QM,  # answers multicast: our socket hears them
            )
        )

    def on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            return
        if service_type == SERVICES:
            if name.endswith(("._tcp.local.", "._udp.local.")):
                self.browse([name])
            return
        key = (service_type, name)
        if key in self.instances or len(self.instances) >= MAX_INSTANCES:
            return
        self.instances.add(key)
        task = asyncio.get_running_loop().create_task(self.resolve(service_type, name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def resolve(self, service_type: str, name: str) -> None:
        """Ask for the instance's SRV, TXT and A records (the answers go to `Heard`)."""
        info = AsyncServiceInfo(service_type, name)
        async with self.sem:
            try:
                await info.async_request(
                    self.aiozc.zeroconf, self.resolve_ms, question_type=DNSQuestionType.QM
                )
            except Exception as exc:  # noqa: BLE001 - zeroconf may raise on odd records
                self.ctx.warn(self.module, f"cannot resolve {name[:80]!r}: {type(exc).__name__}")

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for browser in self.browsers:
            with contextlib.suppress(Exception):
                await browser.async_cancel()


class MdnsModule(BroadcastModule):
    """Browse for `settings.listen_window` seconds on the scan interface, then give pending
    resolutions up to a few seconds more."""

    name = "mdns"

    def __init__(self, service_types: Sequence[str] | None = None) -> None:
        self.service_types = tuple(service_types or SERVICE_TYPES)

    async def run(self, ctx: ScanContext) -> None:
        if not ctx.local_ip:
            # zeroconf's default is every interface: never query out of one we were not given
            ctx.warn(self.name, "no scan address known; mDNS skipped")
            return
        if not ctx.segments:
            ctx.warn(self.name, "no target on the scan segment: multicast inquiry not sent")
            return
        # Our own ears first: without them no answer could be attributed, so no query goes out.
        try:
            sock = open_socket(ctx, port=PORT, reuse=True, group=GROUP)
        except OSError as exc:
            ctx.warn(self.name, f"cannot listen on {GROUP}:{PORT} ({exc.strerror or exc}); "
                     "mDNS skipped")  # fmt: skip
            return
        heard = Heard(ctx, self.name)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Listen(heard), sock=sock)
        except BaseException:
            sock.close()
            raise
        try:
            await self._browse(ctx)
        finally:
            transport.close()
            heard.emit()  # also when the module budget cut the window short

    async def _browse(self, ctx: ScanContext) -> None:
        """Send the queries for `listen_window` seconds, then give pending resolutions up to
        a few seconds more (their answers arrive at our socket meanwhile)."""
        try:
            aiozc = AsyncZeroconf(interfaces=[ctx.local_ip], ip_version=IPVersion.V4Only)
        except Exception as exc:  # noqa: BLE001 - zeroconf raises several kinds here
            ctx.warn(self.name, f"cannot start mDNS on {ctx.local_ip} ({exc})")
            return
        state = _Browse(ctx, self.name, aiozc)
        try:
            state.browse([SERVICES, *self.service_types])
            await asyncio.sleep(ctx.settings.listen_window)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(state.resolve_ms / 1000 + 0.5):
                    while state.tasks:
                        await asyncio.gather(*list(state.tasks), return_exceptions=True)
        finally:
            await state.close()
            await aiozc.async_close()
