"""SSDP / UPnP: M-SEARCH to 239.255.255.250:1900, then the device description at LOCATION.

The description is fetched only when LOCATION passes camscan.discovery.urlpolicy: the address
that answered, a web port (never a vendor SDK port), no user info, no query string; anything
else is not fetched at all (a forged answer can make camscan send nothing a plain inquiry of
its sender would not). The URL kept in the output has no user info or query either. The fetch
is one size-capped GET, sent a second
time only when the first found no connection (refused, timed out, or closed before a byte of
answer): a device busy with the scan's other connections often has a full accept queue at that
moment. Both tries share one deadline and one concurrency slot.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

from camscan import __version__
from camscan.discovery.base import BroadcastModule, ScanContext, ScanSettings
from camscan.discovery.udp import Datagram, Listener, send_and_collect
from camscan.discovery.urlpolicy import allowed_ports, fetchable, keep_url
from camscan.discovery.wire import child, evidence, local, parse_xml, text
from camscan.errors import ParseError, exception_chain
from camscan.model import Evidence
from camscan.protocols import kv_lines

GROUP = "239.255.255.250"
PORT = 1900
MAX_MESSAGE = 64 * 1024
MAX_HEADERS = 64
MAX_DESCRIPTION = 1024 * 1024
MAX_MESSAGES_PER_IP = 16  # a router announces a dozen USNs; more is noise
MAX_LOCATIONS_PER_IP = 4
MAX_FETCHES = 256
USER_AGENT = f"camscan/{__version__} UPnP/1.1 camscan/{__version__}"

# Description fields that hold URLs: kept without user info or query (urlpolicy.keep_url).
URL_FIELDS = frozenset({"manufacturerURL", "modelURL", "presentationURL"})
# Description fields kept, with the UPnP element names (upnp_device lists them in the order
# the device sent them).
DESCRIPTION_FIELDS = (
    "friendlyName",
    "manufacturer",
    "manufacturerURL",
    "modelName",
    "modelNumber",
    "modelDescription",
    "modelURL",
    "serialNumber",
    "deviceType",
    "UDN",
    "presentationURL",
)


@dataclass(frozen=True, slots=True)
class SsdpMessage:
    """kind: "response" (to an M-SEARCH), "notify" or "msearch" (another client's search).
    headers: lower-cased names -> first value."""

    kind: str
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def location(self) -> str | None:
        return self.header("location")

    @property
    def server(self) -> str | None:
        return self.header("server")

    @property
    def st(self) -> str | None:
        return self.header("st")

    @property
    def nt(self) -> str | None:
        return self.header("nt")

    @property
    def usn(self) -> str | None:
        return self.header("usn")


@dataclass(frozen=True, slots=True)
class UpnpDescription:
    """The root device of a UPnP description; `pairs` keeps the UPnP names in document order."""

    pairs: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.pairs if k == name), None)

    manufacturer = property(lambda self: self.get("manufacturer"))
    model_name = property(lambda self: self.get("modelName"))
    model_number = property(lambda self: self.get("modelNumber"))
    serial_number = property(lambda self: self.get("serialNumber"))
    friendly_name = property(lambda self: self.get("friendlyName"))
    device_type = property(lambda self: self.get("deviceType"))
    model_description = property(lambda self: self.get("modelDescription"))
    manufacturer_url = property(lambda self: self.get("manufacturerURL"))
    udn = property(lambda self: self.get("UDN"))


def build_msearch(st: str = "ssdp:all", mx: int = 1) -> bytes:
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {GROUP}:{PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        f"MX: {int(mx)}\r\n"
        f"ST: {st}\r\n"
        f"USER-AGENT: {USER_AGENT}\r\n"
        "\r\n"
    ).encode()


def parse_response(data: bytes) -> SsdpMessage:
    """An M-SEARCH response, a NOTIFY or an M-SEARCH. Raises ParseError for anything else."""
    if len(data) > MAX_MESSAGE:
        raise ParseError("SSDP: message over the size cap")
    lines = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if start.upper().startswith("HTTP/1.") and start[9:12] == "200":
        kind = "response"
    elif start.upper().startswith("NOTIFY * HTTP/1."):
        kind = "notify"
    elif start.upper().startswith("M-SEARCH * HTTP/1."):
        kind = "msearch"
    else:
        raise ParseError(f"SSDP: unexpected start line {start[:40]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line.strip():
            break
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name or " " in name:
            continue
        headers.setdefault(name[:64], " ".join(value.split())[:1024])
        if len(headers) >= MAX_HEADERS:
            break
    return SsdpMessage(kind, headers)


def parse_description(xml: bytes) -> UpnpDescription:
    """A UPnP device description (root device only). Raises ParseError."""
    root = parse_xml(xml, max_size=MAX_DESCRIPTION, what="UPnP description")
    if local(root.tag) != "root":
        raise ParseError("UPnP description: root element is not <root>")
    device = child(root, "device")
    if device is None:
        raise ParseError("UPnP description: no <device>")
    pairs = []
    for el in device:
        name = local(el.tag)
        if name in DESCRIPTION_FIELDS and (value := text(el)):
            value = " ".join(value.split())
            if name in URL_FIELDS:
                value = keep_url(value) or ""
            pairs.append((name, value))
    if not pairs:
        raise ParseError("UPnP description: device has none of the descriptive fields")
    return UpnpDescription(pairs)


def ssdp_evidence(
    msg: SsdpMessage,
    ip: str | None,
    *,
    module: str = "ssdp",
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """ssdp_server (the SERVER header; source = LOCATION without user info or query)."""
    if msg.kind == "msearch" or not msg.server:
        return []
    return [
        evidence(
            module=module,
            protocol="ssdp_server",
            value=msg.server,
            ip=ip,
            port=PORT,
            source=keep_url(msg.location),
            observed_at=observed_at,
            packet=packet,
        )
    ]


def upnp_model(desc: UpnpDescription) -> str | None:
    """modelName, followed by modelNumber when that adds something (when one contains the
    other, the longer one alone)."""
    name, number = desc.model_name, desc.model_number
    if not (name and number):
        return name or number
    if number.lower() in name.lower():
        return name
    if name.lower() in number.lower():
        return number
    return f"{name} {number}"


def upnp_evidence(
    desc: UpnpDescription,
    ip: str | None,
    port: int | None,
    *,
    module: str = "ssdp",
    url: str | None = None,
    observed_at: float | None = None,
    packet: int | None = None,
) -> list[Evidence]:
    """upnp_manufacturer, upnp_model and upnp_device (all fields as key=value lines)."""
    common = {
        "module": module,
        "ip": ip,
        "port": port,
        "transport": "tcp",
        "source": keep_url(url),
        "observed_at": observed_at,
        "packet": packet,
    }
    out = []
    if desc.manufacturer:
        out.append(evidence(protocol="upnp_manufacturer", value=desc.manufacturer, **common))
    if model := upnp_model(desc):
        out.append(evidence(protocol="upnp_model", value=model, **common))
    out.append(evidence(protocol="upnp_device", value=kv_lines(desc.pairs), **common))
    return out


def location_port(url: str) -> int | None:
    try:
        parts = urlsplit(url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def description_client(settings: ScanSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=False,  # noqa: S501 - devices have self-signed certificates; read-only GET
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(settings.io_timeout, connect=settings.connect_timeout),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def no_connection(exc: httpx.TransportError) -> bool:
    """True when a request failed for want of a connection: refused or not accepted in time,
    or closed/reset before the answer's head (the only failures this is asked about). A failed
    TLS handshake is an answer, not a missing connection; so is a head the parser refused.

    Decided by exception types, never by message text: a peer that closed before a complete
    head is a RemoteProtocolError that httpcore raises itself, with nothing under it, while a
    head h11 could not read carries h11's own error underneath (httpcore raises `from` it)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return True
    if isinstance(exc, httpx.ConnectError):  # TLS handshakes happen within the connect
        chain = exception_chain(exc)
        return not any(isinstance(e, ssl.SSLError) for e in chain) or any(
            isinstance(e, ssl.SSLEOFError)
            for e in chain  # closed before the handshake
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return all(
            isinstance(e, httpx.RemoteProtocolError | httpcore.RemoteProtocolError)
            for e in exception_chain(exc)
        )
    return isinstance(exc, httpx.ReadError | httpx.WriteError)


async def _open(
    client: httpx.AsyncClient, url: str, pace: Callable[[], Awaitable[None]] | None
) -> httpx.Response:
    """The response head of a GET; a second GET when the first found no connection."""
    try:
        return await client.send(client.build_request("GET", url), stream=True)
    except httpx.TransportError as exc:
        if not no_connection(exc):
            raise
        first = type(exc).__name__
    if pace is not None:
        await pace()  # a new connection: it waits for the rate cap like any other
    try:
        return await client.send(client.build_request("GET", url), stream=True)
    except httpx.TransportError as exc:
        second = type(exc).__name__
        raise ParseError(
            f"{first} twice" if second == first else f"{first}, then {second}"
        ) from None


async def fetch_description(
    client: httpx.AsyncClient,
    url: str,
    max_body: int,
    timeout: float,
    pace: Callable[[], Awaitable[None]] | None = None,
) -> bytes:
    """A GET (two when the first finds no connection, see no_connection), at most max_body
    bytes read, all within timeout; `pace` is awaited before the second. Raises ParseError for
    anything that is not a plain 200 answer of acceptable size (and OSError/httpx errors pass
    as ParseError too: the caller only warns)."""
    try:
        async with asyncio.timeout(timeout):
            resp = await _open(client, url, pace)
            try:
                if resp.status_code != 200:
                    raise ParseError(f"HTTP {resp.status_code}")
                encoding = resp.headers.get("content-encoding", "identity").lower()
                if encoding not in ("", "identity"):
                    raise ParseError(f"compressed description ({encoding[:20]})")
                buf = bytearray()
                async for chunk in resp.aiter_raw():
                    buf += chunk
                    if len(buf) > max_body:
                        raise ParseError(f"description larger than {max_body} bytes")
                return bytes(buf)
            finally:
                await resp.aclose()
    except TimeoutError:
        raise ParseError("timed out") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        raise ParseError(f"{type(exc).__name__}") from None


class _Answers:
    def __init__(
        self,
        ctx: ScanContext,
        module: str,
        client: httpx.AsyncClient,
        web_ports: frozenset[int] | None = None,
    ) -> None:
        self.ctx, self.module, self.client = ctx, module, client
        self.web_ports = web_ports
        self.messages: dict[str, set[str]] = {}
        self.servers: set[tuple[str, str]] = set()
        self.locations: dict[str, set[str]] = {}
        self.fetches: set[asyncio.Task[None]] = set()
        self.fetched = 0

    def __call__(self, dgram: Datagram) -> None:
        ctx, ip = self.ctx, dgram.addr[0]
        if not ctx.in_scope(ip):
            return
        try:
            msg = parse_response(dgram.data)
        except ParseError as exc:
            ctx.warn(self.module, f"unreadable answer from {ip}: {exc}")
            ctx.note(ip, "unreadable SSDP answer (not an HTTP-style message)")
            return
        if msg.kind == "msearch":
            return
        seen = self.messages.setdefault(ip, set())
        key = msg.usn or msg.st or msg.nt or msg.server or ""
        if key in seen or len(seen) >= MAX_MESSAGES_PER_IP:
            return
        seen.add(key)
        ctx.host_seen(ip)
        if msg.server and (ip, msg.server) not in self.servers:
            self.servers.add((ip, msg.server))
            for ev in ssdp_evidence(msg, ip, module=self.module, observed_at=dgram.at):
                ctx.emit(ev)
        if msg.location:
            self._location(ip, msg.location)

    def ports(self, ip: str) -> frozenset[int]:
        """Web ports of `ip`: the module's (default urlpolicy's), plus those the http module
        found serving HTTP there so far."""
        seen = {int(p) for p in self.ctx.hints(ip, "http_port") if p.isdigit()}
        return (self.web_ports or allowed_ports()) | allowed_ports(seen)

    def _location(self, ip: str, location: str) -> None:
        locs = self.locations.setdefault(ip, set())
        verdict = fetchable(location, ip, ports=self.ports(ip))
        if verdict.url is None:
            shown = keep_url(location[:200]) or ""
            self.ctx.warn(self.module, f"{ip}: LOCATION {shown[:120]!r} not fetched "
                          f"({verdict.reason})")  # fmt: skip
            self.ctx.note(ip, f"SSDP LOCATION not fetched ({verdict.reason})")
            return
        url = verdict.url
        if url in locs:
            return
        if len(locs) >= MAX_LOCATIONS_PER_IP or self.fetched >= MAX_FETCHES:
            return
        locs.add(url)
        self.fetched += 1
        task = asyncio.get_running_loop().create_task(self._fetch(ip, url))
        self.fetches.add(task)
        task.add_done_callback(self.fetches.discard)

    async def _fetch(self, ip: str, url: str) -> None:
        ctx = self.ctx
        async with ctx.limiter.slot():
            try:
                body = await fetch_description(
                    self.client,
                    url,
                    ctx.settings.max_body,
                    ctx.settings.io_timeout,
                    pace=ctx.limiter.pace,
                )
                desc = parse_description(body)
            except ParseError as exc:
                ctx.warn(self.module, f"description at {keep_url(url[:120])}: {exc}")
                reason = str(exc).removeprefix("UPnP description: ")
                ctx.note(ip, f"UPnP description refused ({reason})")
                return
        for ev in upnp_evidence(desc, ip, location_port(url), module=self.module, url=url):
            ctx.emit(ev)


class SsdpModule(BroadcastModule):
    """M-SEARCH (ssdp:all and upnp:rootdevice); NOTIFYs heard on the group during the window
    count too (that listener is left out when destinations are overridden, e.g. in tests).
    `web_ports`: where a LOCATION may point (default urlpolicy.allowed_ports(); SDK ports are
    refused whatever it holds)."""

    name = "ssdp"

    def __init__(
        self,
        destinations: list[tuple[str, int]] | None = None,
        listeners: list[Listener] | None = None,
        web_ports: frozenset[int] | set[int] | None = None,
    ) -> None:
        self.destinations = destinations or [(GROUP, PORT)]
        if listeners is None:
            listeners = [] if destinations else [Listener(PORT, GROUP)]
        self.listeners = listeners
        self.web_ports = allowed_ports(web_ports) if web_ports is not None else None

    async def run(self, ctx: ScanContext) -> None:
        searches = [build_msearch("ssdp:all"), build_msearch("upnp:rootdevice")]
        async with description_client(ctx.settings) as client:
            answers = _Answers(ctx, self.name, client, self.web_ports)
            try:
                await send_and_collect(
                    ctx,
                    [(s, d) for d in self.destinations for s in searches],
                    ctx.settings.listen_window,
                    ctx.settings.max_datagrams,
                    module=self.name,
                    listeners=self.listeners,
                    spacing=0.1,
                    on_datagram=answers,
                )
                while answers.fetches:
                    await asyncio.gather(*list(answers.fetches))
            finally:
                for task in list(answers.fetches):
                    task.cancel()
