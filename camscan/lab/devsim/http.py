"""HTTP and HTTPS of a persona: Server header, titles and bodies per route, 401 with the
vendor's WWW-Authenticate on protected routes, favicon, the ONVIF device service and the UPnP
description. HTTP/1.1 connections stay open for further requests (up to 100, 5 s idle) unless the
client or the persona's `http.close` says otherwise; the head is capped at 16 KiB and read
within 5 s, a body at 64 KiB.

Audited (see audit.py): every method other than GET/HEAD, except ONVIF read actions POSTed
to /onvif/device_service; every Authorization header or WS-Security token with credentials
other than the persona's lab credentials; every read made with the right ones."""

from __future__ import annotations

import asyncio
import hashlib
import html
import struct
from dataclasses import dataclass
from typing import Any

from camscan.errors import ParseError
from camscan.lab.devsim import audit, hostile, onvif, ssdp
from camscan.lab.devsim.auth import check_authorization, fill_nonce
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.wire import (
    MAX_BODY,
    MAX_HEAD,
    REASONS,
    Request,
    http_date,
    parse_request_head,
    render_response,
)
from camscan.lab.personas import Persona

READ_TIMEOUT = 5.0
IDLE_TIMEOUT = 5.0  # how long a kept-alive connection waits for its next request
MAX_REQUESTS = 100  # per connection
ONVIF_PATH = "/onvif/device_service"
_VERSIONS = ("HTTP/1.0", "HTTP/1.1")


def favicon_bytes(seed: str) -> bytes:
    """A valid 1x1 32-bit .ico whose pixel colour comes from `seed` (distinct per vendor)."""
    bgra = hashlib.sha256(seed.encode()).digest()[:3] + b"\xff"
    bmp = struct.pack("<IiiHHIIiiII", 40, 1, 2, 1, 32, 0, 8, 0, 0, 0, 0) + bgra + b"\0" * 4
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 1, 1, 0, 0, 1, 32, len(bmp), 6 + 16)
    return header + entry + bmp


def http_ports(persona: Persona) -> list[tuple[int, bool]]:
    """(port, tls) pairs the persona serves HTTP on; the UPnP description port is added."""
    h = persona.block("http")
    ports = [(p, False) for p in h.get("ports", [])] + [(p, True) for p in h.get("tls_ports", [])]
    if persona.has("ssdp") and all(p != ssdp.desc_port(persona) for p, _ in ports):
        ports.append((ssdp.desc_port(persona), False))
    return ports


class HttpService:
    def __init__(self, persona: Persona, ctx: SimContext) -> None:
        self.persona = persona
        self.ctx = ctx
        self.conf: dict[str, Any] = persona.block("http")

    async def start(self) -> list[asyncio.AbstractServer]:
        servers = []
        for port, tls in http_ports(self.persona):
            ssl_ctx = None
            if tls and not self.persona.mode("tls_garbage"):
                cert = self.conf.get("tls") or {"subject": f"CN={self.persona.ip}"}
                expired = self.persona.mode("tls_expired")
                ssl_ctx = self.ctx.certs.context(cert["subject"], cert.get("issuer"), expired)

            async def handler(
                r: asyncio.StreamReader, w: asyncio.StreamWriter, port=port, tls=tls
            ) -> None:
                if not await hostile.take_connection(self.persona, r, w, port=port, tls=tls):
                    await self._handle(r, w, port)

            servers.append(
                await asyncio.start_server(
                    handler,
                    self.persona.ip,
                    port,
                    ssl=ssl_ctx,
                    ssl_handshake_timeout=READ_TIMEOUT if ssl_ctx else None,
                    reuse_address=True,
                    limit=MAX_HEAD,
                    backlog=64,
                )
            )
        return servers

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            for served in range(MAX_REQUESTS):
                wait = READ_TIMEOUT if served == 0 else IDLE_TIMEOUT
                if not await self._exchange(reader, writer, port, peer, wait):
                    break
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception as exc:  # never let one connection stop the simulator
            self.ctx.warn_once(f"http:{type(exc).__name__}", f"http {self.persona.name}: {exc!r}")
        finally:
            writer.close()

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        port: int,
        peer: tuple[str, int] | None,
        wait: float,
    ) -> bool:
        """Serve one request; True when the connection stays open for another."""
        closing = _Form("HTTP/1.1", close=True)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
            req = parse_request_head(head[:-4], _VERSIONS)
            length = req.content_length
            if length > MAX_BODY:
                writer.write(self._plain(413, closing))
                return False
            body = b""
            if length:
                body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
        except (asyncio.LimitOverrunError, ValueError):
            writer.write(self._plain(431, closing))
            return False
        except ParseError:
            writer.write(self._plain(400, closing))
            return False
        if hostile.streams_http(self.persona):
            await hostile.stream_http(self.persona, req, writer)
            return False
        keep = self._persistent(req)
        writer.write(self.respond(req, body, port, peer, keep))
        await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
        return keep

    def _persistent(self, req: Request) -> bool:
        """HTTP/1.1 keeps the connection unless the client or the persona (`http.close`, as
        many embedded servers do) closes it; hostile answers always close."""
        if req.version != "HTTP/1.1" or self.conf.get("close"):
            return False
        if "close" in req.header("connection").lower():
            return False
        return not self.persona.mode("http_control_chars")

    # ---------------------------------------------------------------- request -> response

    def respond(
        self,
        req: Request,
        body: bytes,
        port: int,
        peer: tuple[str, int] | None,
        keep: bool = False,
    ) -> bytes:
        form = _Form("HTTP/1.1" if req.version == "HTTP/1.1" else "HTTP/1.0", not keep)
        head_only = req.method == "HEAD"
        authorized = self._check_auth(req, port, peer)
        if req.path in hostile.XXE_PATHS and self.persona.mode("xml_xxe"):
            self._audit(port, peer, audit.XXE_FETCH, f"{req.method} {req.target}")
            return self._plain(404, form)
        if self.persona.mode("http_control_chars") and req.path != ONVIF_PATH:
            return hostile.control_chars_answer(head_only)
        if self.persona.has("onvif") and req.path.lower() == ONVIF_PATH:
            return self._onvif(req, body, port, peer, authorized, form)
        if req.method not in ("GET", "HEAD"):
            self._audit(port, peer, audit.WRITE, f"{req.method} {req.target}")
            return self._plain(405, form, [("Allow", "GET, HEAD")])
        if self.persona.has("ssdp") and req.path == ssdp.desc_path(self.persona):
            xml = hostile.poisoned(
                self.persona, ssdp.description_xml(self.persona), "root", "friendlyName"
            )
            return self._ok(form, xml, 'text/xml; charset="utf-8"', head_only)
        if req.path == "/favicon.ico" and self.conf.get("favicon"):
            return self._ok(form, favicon_bytes(self.conf["favicon"]), "image/x-icon", head_only)
        route = (self.conf.get("routes") or {}).get(req.path)
        if route is None:
            route = self.conf.get("not_found") or {"status": 404, "title": "404 Not Found"}
            route = {"status": 404, **route}
        if route.get("auth"):
            if authorized:
                self._audit(port, peer, audit.AUTH_READ, f"{req.method} {req.target}")
                return self._ok(form, b"OK\n", "text/plain", head_only)
            headers = [("WWW-Authenticate", fill_nonce(v)) for v in self._challenges()]
            page = _page("401 Unauthorized")
            return self._render(401, form, headers, page, "text/html", head_only)
        status = int(route.get("status", 200))
        headers = [(k, str(v)) for k, v in (route.get("headers") or {}).items()]
        if "location" in route:
            headers.append(("Location", route["location"]))
        content = route.get("body")
        if content is None:
            content = _page(route.get("title") or "") if status != 204 else ""
        ctype = route.get("content_type", "text/html")
        return self._render(status, form, headers, content, ctype, head_only)

    def _check_auth(self, req: Request, port: int, peer: tuple[str, int] | None) -> bool:
        value = req.header("authorization")
        if not value:
            return False
        verdict = check_authorization(value, req.method, self.persona.credentials)
        if not verdict.ok:
            detail = f"HTTP {verdict.scheme} {req.method} {req.target}"
            self._audit(port, peer, audit.BAD_CREDENTIALS, detail, username=verdict.username)
        return verdict.ok

    def _onvif(
        self,
        req: Request,
        body: bytes,
        port: int,
        peer: tuple[str, int] | None,
        http_authorized: bool,
        form: _Form,
    ) -> bytes:
        ctype = "application/soap+xml; charset=utf-8"
        if req.method != "POST":
            if req.method not in ("GET", "HEAD"):
                self._audit(port, peer, audit.WRITE, f"{req.method} {req.target}")
            return self._plain(405, form, [("Allow", "POST")])
        try:
            soap = onvif.parse_soap(body)
        except ParseError as exc:
            self._audit(port, peer, audit.WRITE, f"POST {req.target} unparsable SOAP: {exc}")
            xml = onvif.fault("ter:InvalidArgVal", "bad request")
            return self._render(400, form, [], xml, ctype)
        action = soap.action
        token_valid = False
        if soap.token is not None:
            token_valid = onvif.token_ok(soap.token, self.persona.credentials)
            if not token_valid:
                self._audit(
                    port,
                    peer,
                    audit.BAD_CREDENTIALS,
                    f"ONVIF {action} UsernameToken",
                    username=soap.token.username,
                )
        authenticated = token_valid or http_authorized
        if action not in onvif.READ_ACTIONS:
            self._audit(port, peer, audit.WRITE, f"ONVIF {action}")
            if not authenticated:
                return self._render(401, form, [], onvif.not_authorized(), ctype)
            status, xml = 400, onvif.action_not_supported(action)
            return self._render(status, form, [], xml, ctype)
        if action not in onvif.pre_auth_actions(self.persona):
            if not authenticated:
                return self._render(401, form, [], onvif.not_authorized(), ctype)
            self._audit(port, peer, audit.ONVIF_AUTH_READ, f"ONVIF {action}")
        status, xml = onvif.answer(self.persona, action, port)
        return self._render(status, form, [], xml, ctype)

    # ---------------------------------------------------------------- helpers

    def _challenges(self) -> list[str]:
        return list(self.conf.get("www_authenticate") or ['Basic realm="device"'])

    def _audit(
        self, port: int, peer: tuple[str, int] | None, kind: str, detail: str, **extra: Any
    ) -> None:
        self.ctx.audit.record(self.persona, "http", port, peer, kind, detail, **extra)

    def _render(
        self,
        status: int,
        form: _Form,
        headers: list[tuple[str, str]],
        body: bytes | str,
        ctype: str = "text/html",
        head_only: bool = False,
    ) -> bytes:
        if isinstance(body, str):
            body = body.encode("utf-8")
        base: list[tuple[str, str]] = [("Date", http_date())]
        if self.conf.get("server"):
            base.append(("Server", self.conf["server"]))
        base += headers
        base.append(("Content-Type", ctype))
        if form.close and not self.conf.get("close"):  # `http.close` personas never say so
            base.append(("Connection", "close"))
        return render_response(form.version, status, base, body, head_only=head_only)

    def _ok(self, form: _Form, body: bytes, ctype: str, head_only: bool) -> bytes:
        return self._render(200, form, [], body, ctype, head_only)

    def _plain(
        self, status: int, form: _Form, headers: list[tuple[str, str]] | None = None
    ) -> bytes:
        text = f"{status} {REASONS.get(status, '')}"
        return self._render(status, form, headers or [], _page(text))


@dataclass(frozen=True, slots=True)
class _Form:
    """How an answer is framed: the HTTP version, and whether the connection closes after."""

    version: str
    close: bool = True


def _page(title: str) -> str:
    t = html.escape(title)
    return f"<!DOCTYPE html>\n<html><head><title>{t}</title></head><body></body></html>\n"
