"""mDNS / DNS-SD with zeroconf: browse camera-relevant service types (and whatever else hosts
enumerate under `_services._dns-sd._udp`), resolve each instance, emit its name and TXT.

Axis cameras announce `_axis-video._tcp` with instance names like `AXIS <model> - <MAC>` and a
`macaddress=` TXT key; printers, NAS boxes and PCs announce theirs, which helps tell decoys
apart. Everything is bounded: service types, instances, and the time spent resolving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from camscan.discovery.base import BroadcastModule, ScanContext
from camscan.discovery.wire import clean_key, evidence
from camscan.model import Evidence
from camscan.protocols import kv_lines

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
MAX_INSTANCES = 512  # instances resolved per scan
MAX_INSTANCES_PER_IP = 32
MAX_TXT_PAIRS = 64
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


class _Browse:
    """The state of one browsing window: which types are browsed, which instances resolved."""

    def __init__(self, ctx: ScanContext, module: str, aiozc: AsyncZeroconf) -> None:
        self.ctx, self.module, self.aiozc = ctx, module, aiozc
        self.types: set[str] = set()
        self.browsers: list[AsyncServiceBrowser] = []
        self.instances: set[tuple[str, str]] = set()
        self.per_ip: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.sem = asyncio.Semaphore(RESOLVE_CONCURRENCY)
        self.resolve_ms = int(min(ctx.settings.io_timeout, 3.0) * 1000)
        self.capped = False

    def browse(self, types: Sequence[str]) -> None:
        fresh = [t for t in types if t not in self.types][: MAX_TYPES - len(self.types)]
        if not fresh:
            return
        self.types.update(fresh)
        self.browsers.append(
            AsyncServiceBrowser(self.aiozc.zeroconf, fresh, handlers=[self.on_change])
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
        if key in self.instances:
            return
        if len(self.instances) >= MAX_INSTANCES:
            if not self.capped:
                self.capped = True
                self.ctx.warn(self.module, f"more than {MAX_INSTANCES} services; "
                              "ignoring the rest")  # fmt: skip
            return
        self.instances.add(key)
        task = asyncio.get_running_loop().create_task(self.resolve(service_type, name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def resolve(self, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        async with self.sem:
            try:
                found = await info.async_request(self.aiozc.zeroconf, self.resolve_ms)
            except Exception as exc:  # noqa: BLE001 - zeroconf may raise on odd records
                self.ctx.warn(self.module, f"cannot resolve {name[:80]!r}: {type(exc).__name__}")
                return
        if not found:
            return
        addresses = []
        for ip in info.parsed_addresses(IPVersion.V4Only):
            if self.ctx.in_scope(ip):
                addresses.append(ip)
            else:
                self.ctx.heard_outside(self.module, ip)  # dropped, and the scan says so
        kept = []
        for ip in addresses:
            self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
            if self.per_ip[ip] <= MAX_INSTANCES_PER_IP:
                kept.append(ip)
            elif self.per_ip[ip] == MAX_INSTANCES_PER_IP + 1:
                self.ctx.warn(self.module, f"{ip} announces more than {MAX_INSTANCES_PER_IP} "
                              "services; ignoring the rest")  # fmt: skip
        for ev in mdns_evidence(name, kept, info.properties or {}, info.server, module=self.module):
            self.ctx.emit(ev)

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
