"""HTTP(S) identification of one host: Server, WWW-Authenticate, Location, <title>, a body
snippet, favicon hashes and the TLS certificate's subject and issuer.

GET only, no credentials, no automatic redirects (at most two are followed by hand, and only
where urlpolicy.fetchable allows: the same address, a web port, no user info, no query), a hard deadline and body cap on every exchange. Every web port gets `/` (its headers,
title and certificate are its own). `/favicon.ico` and a small fixed set of unauthenticated
vendor paths name the device, not the port: they are fetched once per host, on the port whose
`/` answered best (see _rank), and on the next one only when that port gave them no real answer
(a redirect elsewhere, a server error, no HTTP at all). A head httpx refuses (NUL or other
bytes h11 does not allow) is read again by hand (rawhttp).

`http_evidence` turns one response into evidence and is shared with passive mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from camscan.discovery.base import HostModule, ScanContext
from camscan.discovery.favicon import favicon_hashes, is_icon
from camscan.discovery.html import (
    body_snippet,
    clean_text,
    has_controls,
    header_is_dirty,
    looks_binary,
    parse_title,
    raw_title,
)
from camscan.discovery.httpfetch import HostClient, HttpReply, fetch, header, make_client
from camscan.discovery.rawhttp import raw_get
from camscan.discovery.tlsinfo import cert_evidence, cert_problems, fetch_peer_certificate
from camscan.discovery.urlpolicy import allowed_ports, fetchable, keep_url
from camscan.discovery.wire import url_host
from camscan.errors import ParseError, exception_chain
from camscan.model import Evidence

__all__ = [
    "TLS_FIRST_PORTS",
    "VENDOR_PATHS",
    "WEB_PORTS",
    "HttpModule",
    "cert_evidence",
    "favicon_hashes",
    "http_evidence",
    "parse_title",
]

# Not 8000 (Hikvision SDK), 9000 (Reolink Baichuan), 37777 (Dahua DVRIP), 34567 (Xiongmai):
# binary vendor protocols, where an HTTP request or a TLS hello is junk sent to a device.
WEB_PORTS = frozenset({80, 81, 88, 443, 5000, 5001, 7001, 8001, 8080, 8081, 8443, 8888})
TLS_FIRST_PORTS = frozenset({443, 5001, 8443})  # try TLS first here, plain HTTP first elsewhere
# Unauthenticated pages whose answer names a vendor (../shared/facts/fingerprints.md).
VENDOR_PATHS: tuple[str, ...] = (
    "/doc/page/login.asp",  # Hikvision login page: "Hikvision Digital Technology"
    "/ISAPI/System/deviceInfo",  # Hikvision ISAPI: 401 with the hikvision realm
    "/cgi-bin/api.cgi",  # Reolink: JSON "please login first"
    "/custom_lang/English.txt",  # Amcrest (Dahua OEM): "Amcrest Technologies"
    "/LAPI/V1.0/System/DeviceInfo",  # Uniview LAPI: 200 or 401 is itself a sign
    "/web_caps/webCapsConfig",  # Q-See (Dahua OEM): "vendor":"QSee"
    "/Login.htm",  # Xiongmai NetSurveillance: NetSuveillanceWebCookie
)
FAVICON_PATH = "/favicon.ico"
MAX_REDIRECTS = 2
_VENDOR_STATUSES = frozenset({200, 401, 403})  # a vendor path answered: worth recording
_MAX_TIMEOUTS = 2  # a port that lets this many vendor paths time out is left alone
_HEADER_MAX = 2048
_DECODED_MAX = 256 * 1024


# -- pure: one response -> evidence ---------------------------------------------------------


def http_evidence(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    ip: str | None,
    port: int | None,
    path: str,
    *,
    module: str = "http",
    observed_at: float | None = None,
    packet: int | None = None,
    scheme: str = "http",
) -> list[Evidence]:
    """Evidence from one HTTP response (body already de-chunked; gzip/deflate is undone here).

    * http_server, http_wwwauth (every value): header values as sent; http_location too, less
      its user info and query (urlpolicy.keep_url).
    * /favicon.ico answered 200 with an icon: favicon_mmh3 and favicon_md5.
    * otherwise html_title, and http_body: a first line `GET <path> -> <status>`, then the start
      of the text body (<= 4096 chars), so rules can tell which page said what.
    Never raises.
    """
    when = time.time() if observed_at is None else observed_at
    path = clean_text(path, 512) or "/"
    source = keep_url(f"{scheme}://{url_host(ip, port)}{path}")

    def ev(protocol: str, value: str) -> Evidence:
        return Evidence(
            module=module,
            protocol=protocol,
            value=value,
            ip=ip,
            port=port,
            transport="tcp",
            source=source,
            observed_at=when,
            packet=packet,
        )

    out: list[Evidence] = []
    for name, raw_value in headers:
        protocol = _HEADER_PROTOCOLS.get(name.strip().lower())
        value = clean_text(raw_value, _HEADER_MAX)
        if protocol == "http_location":
            value = keep_url(value) or ""
        if protocol and value:
            out.append(ev(protocol, value))

    content_type = header(headers, "content-type")
    body = _decode_content(body, header(headers, "content-encoding"))
    if path.split("?", 1)[0].endswith(FAVICON_PATH):
        if is_icon(status, content_type, body):
            mmh, md5 = favicon_hashes(body)
            out += [ev("favicon_mmh3", mmh), ev("favicon_md5", md5)]
        return out

    if body and not looks_binary(body, content_type):
        title = parse_title(body, content_type)
        if title:
            out.append(ev("html_title", title))
        snippet = body_snippet(body, content_type)
    else:
        snippet = ""
    if snippet or status in (401, 403):
        out.append(ev("http_body", f"GET {path} -> {status}\n{snippet}".rstrip()))
    return out


_HEADER_PROTOCOLS = {
    "server": "http_server",
    "www-authenticate": "http_wwwauth",
    "location": "http_location",
}


def _decode_content(body: bytes, encoding: str | None) -> bytes:
    """Undo gzip/deflate, never producing more than _DECODED_MAX bytes (no bombs)."""
    enc = (encoding or "").strip().lower()
    if not body or enc not in {"gzip", "x-gzip", "deflate"}:
        return body
    for wbits in (47, -15) if enc == "deflate" else (31,):  # 47: zlib or gzip header; -15: raw
        try:
            return zlib.decompressobj(wbits).decompress(body, _DECODED_MAX)
        except zlib.error:
            continue
    return b""


# -- the module -----------------------------------------------------------------------------


class HttpModule(HostModule):
    name = "http"
    ports = WEB_PORTS

    def __init__(
        self,
        web_ports: frozenset[int] | set[int] | None = None,
        tls_ports: frozenset[int] | set[int] | None = None,
        vendor_paths: tuple[str, ...] = VENDOR_PATHS,
    ) -> None:
        if web_ports is not None:
            self.ports = frozenset(web_ports)
        self.tls_ports = frozenset(TLS_FIRST_PORTS if tls_ports is None else tls_ports)
        self.vendor_paths = tuple(vendor_paths)

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        ports = sorted((WEB_PORTS if self.ports is None else self.ports) & set(open_ports))
        if not ports:
            return
        try:
            async with make_client(ctx.settings) as client:
                await _HostRun(self, ctx, ip, client).probe(ports)
        except Exception as exc:  # never raise out of probe
            ctx.warn(self.name, f"{ip}: {type(exc).__name__}")


@dataclass(slots=True)
class _Failure:
    reason: str
    try_other_scheme: bool


@dataclass(frozen=True, slots=True)
class _Root:
    """How one port answered `/`."""

    scheme: str
    port: int
    reply: HttpReply


@dataclass(slots=True)
class _HostRun:
    """State of one host's probe: what was fetched and emitted already."""

    module: HttpModule
    ctx: ScanContext
    ip: str
    client: HostClient
    fetched: set[tuple[str, int, str]] = field(default_factory=set)
    emitted: set[tuple[str, int | None, str]] = field(default_factory=set)
    certs: set[int] = field(default_factory=set)
    raw: set[tuple[str, int]] = field(default_factory=set)  # ports whose heads httpx refuses

    def warn(self, port: int, message: str) -> None:
        self.ctx.warn(self.module.name, f"{self.ip}:{port} {message}")

    def web_ports(self) -> frozenset[int]:
        """Where a redirect may lead: urlpolicy's web ports and the ports this module probes
        (never an SDK port)."""
        return allowed_ports(WEB_PORTS if self.module.ports is None else self.module.ports)

    def note(self, port: int, message: str) -> None:
        self.ctx.note(self.ip, f"HTTP port {port}: {message}")

    async def probe(self, ports: list[int]) -> None:
        results = await asyncio.gather(*(self.probe_port(p) for p in ports), return_exceptions=True)
        roots: list[_Root] = []
        for result in results:
            if isinstance(result, Exception):
                self.ctx.warn(self.module.name, f"{self.ip}: {type(result).__name__}")
            elif isinstance(result, _Root):
                roots.append(result)
        if not roots:
            return
        ranked = sorted(roots, key=_rank)
        done = await asyncio.gather(
            self.favicon(ranked), self.vendor_paths(ranked), return_exceptions=True
        )
        for result in done:
            if isinstance(result, Exception):
                self.ctx.warn(self.module.name, f"{self.ip}: {type(result).__name__}")

    async def probe_port(self, port: int) -> _Root | None:
        first = await self.root(port)
        if first is None:
            return None
        scheme, reply = first
        self.ctx.add_hint(self.ip, "http_port", str(port))  # serves HTTP: a web port of the host
        await self.record(scheme, port, "/", reply)
        await self.follow_redirects(scheme, port, reply)
        return _Root(scheme, port, reply)

    async def root(self, port: int) -> tuple[str, HttpReply] | None:
        """Fetch `/`, choosing plain HTTP or TLS by what the port answers."""
        order = ("https", "http") if port in self.module.tls_ports else ("http", "https")
        reasons = []
        plain_reply: HttpReply | None = None
        for scheme in order:
            got = await self.get(scheme, port, "/")
            if isinstance(got, HttpReply):
                if scheme == "http" and _says_use_tls(got):
                    plain_reply = got  # nginx & co: "plain HTTP sent to HTTPS port"
                    continue
                return scheme, got
            reasons.append(f"{scheme}: {got.reason}")
            if not got.try_other_scheme:
                break
        if plain_reply is not None:
            return "http", plain_reply
        self.warn(port, "no HTTP answer (" + "; ".join(reasons) + ")")
        self.note(port, "open, but no HTTP answer (" + "; ".join(reasons) + ")")
        return None

    async def follow_redirects(self, scheme: str, port: int, reply: HttpReply) -> None:
        for _ in range(MAX_REDIRECTS):
            location = reply.header("location")
            if not location or not 300 <= reply.status < 400:
                return
            target = _same_host_target(reply.url, location, self.ip, self.web_ports())
            if target is None or target in self.fetched:
                return
            scheme, port, path = target
            got = await self.get(scheme, port, path)
            if not isinstance(got, HttpReply):
                self.warn(port, f"redirect to {path}: {got.reason}")
                return
            await self.record(scheme, port, path, got)
            reply = got

    async def favicon(self, ranked: list[_Root]) -> None:
        for root in ranked:
            if (root.scheme, root.port, FAVICON_PATH) in self.fetched:
                return  # `/` redirected there: recorded already
            icon = await self.get(root.scheme, root.port, FAVICON_PATH)
            if isinstance(icon, HttpReply) and icon.status == 200:
                await self.record(root.scheme, root.port, FAVICON_PATH, icon)
            if _settled(icon):
                return

    async def vendor_paths(self, ranked: list[_Root]) -> None:
        for root in ranked:
            if await self.vendor_paths_on(root):
                return

    async def vendor_paths_on(self, root: _Root) -> bool:
        """Ask one port for the vendor paths; True when it answered them for the host."""
        scheme, port = root.scheme, root.port
        root_sig = _signature(root.reply)
        timeouts = 0
        settled = False
        for path in self.module.vendor_paths:
            if (scheme, port, path) in self.fetched:  # e.g. `/` redirected there
                settled = True
                continue
            got = await self.get(scheme, port, path)
            settled = settled or _settled(got)
            if isinstance(got, _Failure):
                timeouts += got.reason == "timed out"
                if timeouts >= _MAX_TIMEOUTS:
                    self.warn(port, "vendor paths keep timing out; stopped")
                    return settled
                continue
            # A server that answers every path with its login page says nothing about `path`.
            if got.status in _VENDOR_STATUSES and _signature(got) != root_sig:
                await self.record(scheme, port, path, got)
        return settled

    async def get(self, scheme: str, port: int, path: str) -> HttpReply | _Failure:
        self.fetched.add((scheme, port, path))
        if (scheme, port) in self.raw:
            return await self.get_raw(scheme, port, path, None)
        url = f"{scheme}://{self.ip}:{port}{path}"
        settings = self.ctx.settings
        try:
            async with self.ctx.limiter.slot():
                return await fetch(
                    self.client, url, deadline=settings.io_timeout, max_body=settings.max_body
                )
        except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError) as exc:
            failure = _Failure(_reason(exc), _worth_other_scheme(exc, scheme))
            if not _head_refused(exc):
                return failure
        # h11 refused the head (NUL, VT, FF or a broken line in it): read it by hand.
        got = await self.get_raw(scheme, port, path, failure)
        if isinstance(got, HttpReply):
            self.raw.add((scheme, port))
            self.note(port, "malformed HTTP head (read leniently)")
        return got

    async def get_raw(
        self, scheme: str, port: int, path: str, failure: _Failure | None
    ) -> HttpReply | _Failure:
        """`failure`: what httpx said, reported when the raw read fails too."""
        settings = self.ctx.settings
        try:
            async with self.ctx.limiter.slot():
                return await raw_get(
                    self.ip,
                    port,
                    path,
                    tls=scheme == "https",
                    deadline=settings.io_timeout,
                    connect_timeout=settings.connect_timeout,
                    max_body=settings.max_body,
                )
        except (TimeoutError, OSError, ssl.SSLError, ParseError) as exc:
            if failure is not None:
                return failure
            if isinstance(exc, ParseError):
                return _Failure("answer is not HTTP", try_other_scheme=False)
            return _Failure(_reason(exc), try_other_scheme=False)

    async def record(self, scheme: str, port: int, path: str, reply: HttpReply) -> None:
        self.check(port, reply)
        evidence = http_evidence(
            reply.status, reply.headers, reply.body, self.ip, port, path, scheme=scheme
        )
        for ev in evidence:
            key = (ev.protocol, ev.port, ev.value)
            if key not in self.emitted:
                self.emitted.add(key)
                self.ctx.emit(ev)
        if scheme == "https" and port not in self.certs:
            self.certs.add(port)
            await self.certificate(port, reply.peer_cert)

    def check(self, port: int, reply: HttpReply) -> None:
        """Notes on what is wrong with an answer (the evidence keeps only clean text)."""
        if reply.truncated:
            cap = self.ctx.settings.max_body
            if len(reply.body) >= cap:
                self.note(port, f"body cut at the {cap}-byte cap")
            else:
                self.note(port, "body cut short (deadline or connection dropped)")
        if any(header_is_dirty(value) for _, value in reply.headers):
            self.note(port, "control characters or invalid UTF-8 in headers (removed)")
        ctype = reply.header("content-type")
        if reply.body and not looks_binary(reply.body, ctype):
            title = raw_title(reply.body, ctype)
            if title is not None and has_controls(title):
                self.note(port, "control characters or invalid UTF-8 in the title (removed)")

    async def certificate(self, port: int, der: bytes | None) -> None:
        """Evidence from the certificate of the connection `/` came over; a handshake of its
        own only when that connection did not show it (der None)."""
        if der is None:
            try:
                async with self.ctx.limiter.slot():
                    der = await fetch_peer_certificate(self.ip, port, self.ctx.settings.io_timeout)
            except (TimeoutError, OSError, ssl.SSLError) as exc:
                self.warn(port, f"TLS handshake for the certificate failed ({_reason(exc)})")
                self.note(port, f"TLS handshake for the certificate failed ({_reason(exc)})")
                return
        if not der:
            self.warn(port, "TLS server sent no certificate")
            self.note(port, "TLS server sent no certificate")
            return
        try:
            evidence = cert_evidence(der, self.ip, port, source=f"https://{self.ip}:{port}/")
        except ParseError as exc:
            self.warn(port, f"unreadable certificate: {exc}")
            self.note(port, "unreadable TLS certificate")
            return
        for problem in cert_problems(der):
            self.note(port, problem)
        for ev in evidence:
            self.emitted.add((ev.protocol, ev.port, ev.value))
            self.ctx.emit(ev)


def _rank(root: _Root) -> tuple[int, bool, bool, int]:
    """Sort key of the ports to ask the host-wide paths: a port whose `/` answered (2xx, 401,
    403, a redirect within the port) before one that redirects elsewhere (often HTTP to
    HTTPS) before one that answered another 4xx/5xx; then plain HTTP, port 80, lower ports."""
    status = root.reply.status
    if 200 <= status < 300 or status in (401, 403):
        quality = 0
    elif 300 <= status < 400:
        quality = 0 if _redirects_within(root) else 1
    else:
        quality = 2
    return quality, root.scheme != "http", root.port != 80, root.port


def _redirects_within(root: _Root) -> bool:
    """Does the redirect `/` answered stay on the same scheme and port?"""
    try:
        here = urlsplit(root.reply.url)
        there = urlsplit(urljoin(root.reply.url, (root.reply.header("location") or "").strip()))
        port = there.port or (443 if there.scheme == "https" else 80)
    except ValueError:
        return False
    return (there.scheme, there.hostname, port) == (root.scheme, here.hostname, root.port)


def _settled(got: HttpReply | _Failure) -> bool:
    """Did a port answer a host-wide path for the host? A 2xx or 4xx does; a redirect, a
    server error or no HTTP answer leaves the question to the next port."""
    return isinstance(got, HttpReply) and (200 <= got.status < 300 or 400 <= got.status < 500)


def _head_refused(exc: BaseException) -> bool:
    """httpx got bytes but h11 refused them as a response head (not: closed without a word)."""
    return isinstance(exc, httpx.RemoteProtocolError) and "without sending" not in str(exc)


def _signature(reply: HttpReply) -> tuple[int, str]:
    return reply.status, hashlib.sha256(reply.body).hexdigest()


def _says_use_tls(reply: HttpReply) -> bool:
    return reply.status == 400 and b"https" in reply.body[:4096].lower()


def _same_host_target(
    base: str, location: str, ip: str, ports: frozenset[int] | None = None
) -> tuple[str, int, str] | None:
    """(scheme, port, path) of a redirect urlpolicy.fetchable allows (`ip` itself, one of
    `ports`, no user info, no query); None for any other target."""
    verdict = fetchable(location, ip, ports=ports, base=base)
    if verdict.url is None:
        return None
    url = urlsplit(verdict.url)
    return url.scheme, url.port or 80, url.path


def _reason(exc: BaseException) -> str:
    chain = exception_chain(exc)
    if any(isinstance(e, TimeoutError | httpx.TimeoutException) for e in chain):
        return "timed out"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in str(exc):
        return "TLS handshake failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in str(exc):
            return "closed without answering"
        return "answer is not HTTP"
    return type(exc).__name__


def _worth_other_scheme(exc: BaseException, scheme: str) -> bool:
    """Could the port speak the other scheme? (a TLS alert to plain HTTP, a failed handshake)"""
    if isinstance(exc, TimeoutError):  # our overall deadline: the port is just slow
        return False
    if any(isinstance(e, ConnectionRefusedError) for e in exception_chain(exc)):
        return False
    if isinstance(exc, httpx.ConnectTimeout):  # a plain server waiting out our ClientHello
        return scheme == "https"
    if isinstance(exc, httpx.TimeoutException):
        return False
    return isinstance(exc, httpx.TransportError | OSError | ssl.SSLError)
