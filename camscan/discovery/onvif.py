"""ONVIF device service: GetSystemDateAndTime without credentials (the spec lets anyone ask;
an answer says "this is an ONVIF device"), then GetDeviceInformation (manufacturer, model,
firmware, serial) ONLY when the user gave credentials, with a WS-Security UsernameToken
digest. One attempt with the user's credentials; nothing is ever guessed or retried.

Endpoints: the XAddrs WS-Discovery learnt (hint `onvif_xaddr`), only those urlpolicy allows:
the probed address itself (an XAddr naming any other host, or malformed, is dropped, never
re-pointed), a web port (never an SDK port), no user info, no query; and the conventional
/onvif/device_service on open web ports named explicitly. Credentials go only to the addresses
the credentials file's `hosts:` allows; any other ONVIF service gets no UsernameToken at all.
The parsers are pure (defusedxml, size-capped) and shared with passive mode.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
import ssl
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import httpx
from defusedxml import ElementTree as SafeET

from camscan.discovery.base import Credentials, HostModule, ScanContext
from camscan.discovery.html import clean_text
from camscan.discovery.httpfetch import HostClient, HttpReply, fetch, make_client
from camscan.discovery.urlpolicy import allowed_ports, fetchable
from camscan.errors import ParseError
from camscan.model import Evidence
from camscan.protocols import kv_lines

DEVICE_SERVICE_PATH = "/onvif/device_service"
# ONVIF is spoken only to services a device announced (WS-Discovery XAddrs): a SOAP POST to a
# web server that never said it speaks ONVIF is not a read it asked for. Tests and users may
# name fallback ports explicitly.
FALLBACK_PORTS: tuple[int, ...] = ()
MAX_HINTED = 2  # endpoints taken from WS-Discovery XAddrs
MAX_FALLBACK = 2  # conventional endpoints tried on open web ports
MAX_XML = 512 * 1024
DEVICE_INFO_FIELDS = ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")
_FIELD_MAX = 256

_NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
_NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
_NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_DIGEST_SCHEME = (  # a URI naming the digest scheme, no secret
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
_BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
_NUMBER = re.compile(r"\s*(\d{1,4})\s*")


class SoapFault(ParseError):
    """The device answered with a SOAP Fault; `code` is its most specific fault code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"SOAP fault {code}")
        self.code = code


# -- requests -------------------------------------------------------------------------------


def _envelope(body: str, header: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{_NS_SOAP}" xmlns:tds="{_NS_TDS}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


GET_SYSTEM_DATE_AND_TIME = _envelope("<tds:GetSystemDateAndTime/>")


def soap_content_type(operation: str) -> str:
    return f'application/soap+xml; charset=utf-8; action="{_NS_TDS}/{operation}"'


def format_created(created: datetime) -> str:
    """xsd:dateTime in UTC with a Z, as WS-Security's Created wants it."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    c = created.astimezone(UTC)
    return f"{c.year:04d}-{c.month:02d}-{c.day:02d}T{c.hour:02d}:{c.minute:02d}:{c.second:02d}Z"


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security UsernameToken digest: base64(sha1(nonce + created + password))."""
    raw = nonce + created.encode() + password.encode()
    return base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode()


def build_get_device_information(
    credentials: Credentials, created: datetime, nonce: bytes
) -> bytes:
    """GetDeviceInformation with a WS-Security UsernameToken (PasswordDigest) header."""
    created_text = format_created(created)
    digest = password_digest(nonce, created_text, credentials.password)
    security = (
        f'<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="{_NS_WSSE}" '
        f'xmlns:wsu="{_NS_WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(credentials.username)}</wsse:Username>"
        f'<wsse:Password Type="{_DIGEST_SCHEME}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{_BASE64_BINARY}">{base64.b64encode(nonce).decode()}'
        f"</wsse:Nonce><wsu:Created>{created_text}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security></s:Header>"
    )
    return _envelope("<tds:GetDeviceInformation/>", security)


# -- parsers --------------------------------------------------------------------------------


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(elem: Element, name: str) -> Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _find(elem: Element, name: str) -> Element | None:
    return next((e for e in elem.iter() if _local(e.tag) == name), None)


def _text(elem: Element | None) -> str:
    return clean_text(elem.text or "", _FIELD_MAX) if elem is not None else ""


def _soap_body(xml: bytes) -> Element:
    """The Body of a SOAP envelope; SoapFault for a fault, ParseError for anything else."""
    if not isinstance(xml, bytes | bytearray) or not xml.strip():
        raise ParseError("empty SOAP answer")
    if len(xml) > MAX_XML:
        raise ParseError("SOAP answer too large")
    try:
        root = SafeET.fromstring(bytes(xml), forbid_dtd=True)
    except Exception:  # expat errors, defusedxml's DTD/entity refusals, bad encodings
        raise ParseError("not well-formed XML (or it holds a DTD)") from None
    if _local(root.tag) != "Envelope":
        raise ParseError("not a SOAP envelope")
    body = _child(root, "Body")
    if body is None:
        raise ParseError("SOAP envelope without Body")
    fault = _child(body, "Fault")
    if fault is not None:
        raise SoapFault(_fault_code(fault))
    return body


def _fault_code(fault: Element) -> str:
    code = ""
    for elem in fault.iter():  # the innermost Subcode/Value is the most specific
        if _local(elem.tag) in ("Value", "faultcode") and _text(elem):
            code = _text(elem)
    return code[:64] or "unknown"


def parse_system_date_time(xml: bytes) -> datetime | None:
    """The device's UTC clock from a GetSystemDateAndTime answer (None when it gives no
    valid UTCDateTime). SoapFault/ParseError when it is no such answer."""
    body = _soap_body(xml)
    response = _child(body, "GetSystemDateAndTimeResponse")
    if response is None:
        raise ParseError("no GetSystemDateAndTimeResponse")
    utc = _find(response, "UTCDateTime")
    date = _child(utc, "Date") if utc is not None else None
    clock = _child(utc, "Time") if utc is not None else None
    if date is None or clock is None:
        return None
    parts = []
    for elem, name in ((date, "Year"), (date, "Month"), (date, "Day"),
                       (clock, "Hour"), (clock, "Minute"), (clock, "Second")):  # fmt: skip
        m = _NUMBER.fullmatch(_text(_child(elem, name)))
        if not m:
            return None
        parts.append(int(m.group(1)))
    try:
        return datetime(*parts, tzinfo=UTC)
    except ValueError:  # month 13 and friends: the device answered, its clock is nonsense
        return None


def parse_device_information(xml: bytes) -> dict[str, str]:
    """Manufacturer, Model, FirmwareVersion, SerialNumber, HardwareId (those present, in the
    device's order). SoapFault/ParseError when it is no GetDeviceInformation answer."""
    body = _soap_body(xml)
    response = _child(body, "GetDeviceInformationResponse")
    if response is None:
        raise ParseError("no GetDeviceInformationResponse")
    out: dict[str, str] = {}
    for elem in response:
        name = _local(elem.tag)
        if name in DEVICE_INFO_FIELDS and name not in out and _text(elem):
            out[name] = _text(elem)
    return out


def date_time_value(device_time: datetime | None) -> str:
    """The onvif_datetime evidence value."""
    return f"UTC={format_created(device_time)}" if device_time else "answered"


# -- the module -----------------------------------------------------------------------------


def endpoints(
    ip: str, xaddrs: list[str], open_ports: set[int], web_ports: tuple[int, ...]
) -> list[str]:
    """Device-service URLs to try on `ip`: hinted XAddrs that point at `ip` itself on a web port
    (urlpolicy.fetchable; `web_ports` count as web ports too), then the conventional path on
    the open ones of `web_ports`."""
    ports = allowed_ports(web_ports)
    hinted: list[str] = []
    for xaddr in xaddrs:
        for url in xaddr.split():
            verdict = fetchable(url, ip, ports=ports)
            if verdict.url is not None and verdict.url not in hinted:
                hinted.append(verdict.url)
    fallback = [
        f"http://{ip}:{p}{DEVICE_SERVICE_PATH}" for p in web_ports if p in open_ports and p in ports
    ]
    out = hinted[:MAX_HINTED]
    for url in fallback[:MAX_FALLBACK]:
        if url not in out:
            out.append(url)
    return out


class OnvifModule(HostModule):
    name = "onvif"
    ports = None  # WS-Discovery may name a port the sweep did not cover

    def __init__(self, web_ports: tuple[int, ...] = FALLBACK_PORTS) -> None:
        self.web_ports = tuple(web_ports)

    async def probe(self, ctx: ScanContext, ip: str, open_ports: set[int]) -> None:
        if ctx.in_scan and not ctx.hints(ip, "onvif_xaddr"):
            # Wait for WS-Discovery's XAddrs (within the host budget): the first one of this
            # host, or the end of discovery, whichever comes first. Not the end alone: a listen
            # window longer than the host budget would leave no time for ONVIF at all.
            await wait_for_xaddr(ctx, ip)
        urls = endpoints(ip, ctx.hints(ip, "onvif_xaddr"), set(open_ports), self.web_ports)
        if not urls:
            return
        try:
            async with make_client(ctx.settings) as client:
                await self._probe(ctx, client, ip, urls)
        except Exception as exc:  # never raise out of probe
            ctx.warn(self.name, f"{ip}: {type(exc).__name__}")

    async def _probe(self, ctx: ScanContext, client: HostClient, ip: str, urls: list[str]) -> None:
        for url in urls:
            reply = await self._post(
                ctx, client, url, "GetSystemDateAndTime", GET_SYSTEM_DATE_AND_TIME
            )
            if reply is None:
                continue
            loop_time = asyncio.get_running_loop().time()
            try:
                device_time = parse_system_date_time(reply.body)
                value = date_time_value(device_time)
            except SoapFault as fault:
                device_time, value = None, f"fault={fault.code}"
            except ParseError as exc:
                if reply.status == 200:
                    ctx.warn(self.name, f"{url}: {exc}")
                continue  # not an ONVIF device service
            ctx.emit(self._evidence("onvif_datetime", value, ip, url))
            if ctx.credentials is not None and not ctx.credentials.allows(ip):
                ctx.warn(self.name, f"{ip}: not in the credentials file's hosts; no login sent")
            elif ctx.credentials is not None:
                created = datetime.now(UTC)
                if device_time is not None:  # speak the device's time: its clock may be off
                    elapsed = asyncio.get_running_loop().time() - loop_time
                    with contextlib.suppress(OverflowError):
                        created = device_time + timedelta(seconds=elapsed)
                await self._device_information(ctx, client, ip, url, ctx.credentials, created)
            return

    async def _device_information(
        self,
        ctx: ScanContext,
        client: HostClient,
        ip: str,
        url: str,
        credentials: Credentials,
        created: datetime,
    ) -> None:
        request = build_get_device_information(credentials, created, secrets.token_bytes(16))
        reply = await self._post(ctx, client, url, "GetDeviceInformation", request)
        if reply is None:
            return
        try:
            info = parse_device_information(reply.body)
        except SoapFault as fault:
            ctx.warn(self.name, f"{url}: GetDeviceInformation refused (fault {fault.code})")
            return
        except ParseError as exc:
            ctx.warn(self.name, f"{url}: GetDeviceInformation: HTTP {reply.status}, {exc}")
            return
        if info:
            ctx.emit(self._evidence("onvif_device_info", kv_lines(info), ip, url))

    async def _post(
        self, ctx: ScanContext, client: HostClient, url: str, operation: str, body: bytes
    ) -> HttpReply | None:
        settings = ctx.settings
        try:
            async with ctx.limiter.slot():
                return await fetch(
                    client,
                    url,
                    method="POST",
                    content=body,
                    headers={"Content-Type": soap_content_type(operation)},
                    deadline=settings.io_timeout,
                    max_body=min(settings.max_body, MAX_XML),
                )
        except TimeoutError:
            ctx.warn(self.name, f"{url}: {operation} timed out")
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError) as exc:
            if not _refused(exc):
                ctx.warn(self.name, f"{url}: {operation} failed ({type(exc).__name__})")
        return None

    def _evidence(self, protocol: str, value: str, ip: str, url: str) -> Evidence:
        port = urlsplit(url).port
        return Evidence(
            module=self.name,
            protocol=protocol,
            value=value,
            ip=ip,
            port=port,
            transport="tcp",
            source=url,
        )


async def wait_for_xaddr(ctx: ScanContext, ip: str) -> None:
    """Until WS-Discovery hints an XAddr of `ip` (wsd.xaddr_event) or discovery is over."""
    from camscan.discovery.wsd import xaddr_event  # wsd imports nothing of this module

    event = xaddr_event(ctx, ip)
    waits = [asyncio.ensure_future(ctx.discovery_done.wait()), asyncio.ensure_future(event.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


def _refused(exc: BaseException) -> bool:
    cur: BaseException | None = exc
    for _ in range(8):
        if cur is None:
            return False
        if isinstance(cur, ConnectionRefusedError) or "refused" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    return False
