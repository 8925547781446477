"""One bounded HTTP exchange with a device: a hard deadline over the whole exchange (which
also ends slowloris answers and endless chunked bodies) and a hard cap on the body read.

Shared by the http and onvif modules. No redirects are followed, no proxy or environment
setting is used, certificates are not checked (we identify devices, we do not trust them), but
the peer certificate of an HTTPS exchange is kept: it names the vendor, and reading it from the
connection the request used saves a handshake of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

import httpx

from camscan import __version__
from camscan.discovery.base import ScanSettings
from camscan.discovery.tlsinfo import client_ssl_context

USER_AGENT = f"camscan/{__version__}"


@dataclass(frozen=True, slots=True)
class HttpReply:
    url: str
    status: int
    headers: list[tuple[str, str]]  # as sent: original case and order, repeats kept
    body: bytes  # raw (still content-encoded) bytes, at most max_body of them
    truncated: bool = False  # the body was cut by the size cap or the deadline
    # DER of the TLS peer's certificate; b"": TLS without one; None: plain HTTP, or unknown.
    peer_cert: bytes | None = None

    def header(self, name: str) -> str | None:
        return header(self.headers, name)


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    """First value of a header, case-insensitively."""
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


@dataclass(slots=True)
class HostClient:
    """The HTTP clients of one host's probe. Requests reuse a connection where the device
    keeps it open (fewer handshakes for the device and for us). Many embedded servers close
    after each answer without saying so: a request that finds its reused connection gone is
    sent once more on a new connection (RFC 9112 section 9.3.1: a read is safe to repeat),
    and that origin gets a new connection per request from then on."""

    settings: ScanSettings
    kept: httpx.AsyncClient = field(init=False)
    single: httpx.AsyncClient | None = None  # one request per connection, made when needed
    reusable: set[Origin] = field(default_factory=set)  # last answer left the connection open
    closes: set[Origin] = field(default_factory=set)  # closed kept-alive connections unasked

    def __post_init__(self) -> None:
        self.kept = _client(self.settings, keep_alive=True)

    def client_for(self, origin: Origin) -> httpx.AsyncClient:
        if origin not in self.closes:
            return self.kept
        if self.single is None:
            self.single = _client(self.settings, keep_alive=False)
        return self.single

    async def __aenter__(self) -> HostClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kept.aclose()
        if self.single is not None:
            await self.single.aclose()


Origin = tuple[bytes, bytes, int | None]


def _client(settings: ScanSettings, *, keep_alive: bool) -> httpx.AsyncClient:
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",  # a compressed body could be a bomb
    }
    if not keep_alive:
        headers["Connection"] = "close"
    return httpx.AsyncClient(
        verify=client_ssl_context(),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.io_timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=4 if keep_alive else 0),
        headers=headers,
    )


def make_client(settings: ScanSettings) -> HostClient:
    return HostClient(settings)


# What httpx raises when a kept-alive connection was closed by the device before our request.
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


async def fetch(
    host: HostClient,
    url: str,
    *,
    deadline: float,
    max_body: int,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpReply:
    """Send one request; return status, headers and at most `max_body` bytes of body.

    The whole exchange ends `deadline` seconds after it starts. Raises TimeoutError when the
    response head has not arrived by then, and httpx.HTTPError for transport and protocol
    failures before the head; a body cut short (deadline, cap, dropped connection) is
    returned as far as it came, with truncated=True.
    """
    end = asyncio.get_running_loop().time() + deadline
    parsed = httpx.URL(url)
    origin = (parsed.raw_scheme, parsed.raw_host, parsed.port)
    client = host.client_for(origin)
    request = client.build_request(method, url, content=content, headers=headers)
    async with asyncio.timeout_at(end):
        try:
            response = await client.send(request, stream=True)
        except _STALE:
            # Only a request that may have gone out on a kept connection is sent again: one
            # on a new connection reached the device, whatever it did with it.
            if origin not in host.reusable or origin in host.closes:
                raise
            host.reusable.discard(origin)
            host.closes.add(origin)
            client = host.client_for(origin)
            request = client.build_request(method, url, content=content, headers=headers)
            response = await client.send(request, stream=True)
    if (
        response.http_version == "HTTP/1.1"
        and "close" not in (response.headers.get("connection") or "").lower()
    ):
        host.reusable.add(origin)
    else:
        host.reusable.discard(origin)
    cert = peer_certificate(response)
    body = bytearray()
    truncated = False
    try:
        async with asyncio.timeout_at(end):
            async for chunk in response.aiter_raw():
                room = max_body - len(body)
                body += chunk[:room]
                if len(chunk) >= room:
                    truncated = True
                    break
    except (TimeoutError, httpx.HTTPError):
        truncated = True
    finally:
        with contextlib.suppress(TimeoutError, httpx.HTTPError, OSError):
            async with asyncio.timeout(1.0):
                await response.aclose()
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
    return HttpReply(str(request.url), response.status_code, raw, bytes(body), truncated, cert)


def peer_certificate(response: httpx.Response) -> bytes | None:
    """The certificate of the TLS connection a response came over (see HttpReply.peer_cert).
    httpcore hands its connection out as the `network_stream` extension."""
    stream = response.extensions.get("network_stream")
    try:
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return None
        return ssl_object.getpeercert(binary_form=True) or b""
    except (AttributeError, ValueError, OSError):  # a stream without extra info, or closed
        return None
