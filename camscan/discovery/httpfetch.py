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
from dataclasses import dataclass

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


def make_client(settings: ScanSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=client_ssl_context(),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.io_timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=0),
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            "Accept-Encoding": "identity",  # a compressed body could be a bomb
            "Connection": "close",
        },
    )


async def fetch(
    client: httpx.AsyncClient,
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
    request = client.build_request(method, url, content=content, headers=headers)
    async with asyncio.timeout_at(end):
        response = await client.send(request, stream=True)
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
