"""ONVIF device service (SOAP 1.2 over HTTP POST at /onvif/device_service).

GetSystemDateAndTime (and whatever the persona lists in `pre_auth`) is answered without
credentials; every other action needs a WS-Security UsernameToken whose PasswordDigest is
Base64(SHA-1(nonce + created + password)) for the persona's lab credentials (a PasswordText
token or an HTTP Digest/Basic header with the right credentials is accepted too). Otherwise
the answer is HTTP 401 with a SOAP fault, subcode ter:NotAuthorized. Nothing is ever changed:
actions that are not reads get a fault and an audit record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from xml.etree.ElementTree import Element  # noqa: S405 - type only; parsing is defusedxml
from xml.sax.saxutils import escape

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from camscan.errors import ParseError
from camscan.lab.devsim.auth import check_password_digest
from camscan.lab.personas import Credentials, Persona

READ_ACTIONS = frozenset(
    {"GetSystemDateAndTime", "GetDeviceInformation", "GetCapabilities", "GetServices"}
)
DEFAULT_PRE_AUTH = ("GetSystemDateAndTime",)

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_TEXT = "#PasswordText"  # noqa: S105 - a WS-Security type URI suffix


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str
    password_type: str
    nonce: str
    created: str


@dataclass(frozen=True)
class SoapRequest:
    action: str
    token: UsernameToken | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_soap(body: bytes) -> SoapRequest:
    """The action (local name of the first Body child) and the UsernameToken, if any."""
    try:
        root = safe_et.fromstring(body)
    except (safe_et.ParseError, DefusedXmlException, ValueError) as exc:
        raise ParseError(f"bad SOAP XML: {exc}") from exc
    if _local(root.tag) != "Envelope":
        raise ParseError("not a SOAP envelope")
    body_el = next((c for c in root if _local(c.tag) == "Body"), None)
    if body_el is None or len(body_el) == 0:
        raise ParseError("SOAP envelope without a body action")
    action = _local(body_el[0].tag)
    token = None
    header = next((c for c in root if _local(c.tag) == "Header"), None)
    if header is not None:
        ut = next((e for e in header.iter() if _local(e.tag) == "UsernameToken"), None)
        if ut is not None:
            token = _token(ut)
    return SoapRequest(action, token)


def _token(ut: Element) -> UsernameToken:
    fields: dict[str, str] = {}
    ptype = ""
    for el in ut:
        name = _local(el.tag)
        fields[name] = (el.text or "").strip()
        if name == "Password":
            ptype = el.get("Type", "")
    return UsernameToken(
        fields.get("Username", ""),
        fields.get("Password", ""),
        ptype,
        fields.get("Nonce", ""),
        fields.get("Created", ""),
    )


def token_ok(token: UsernameToken, creds: Credentials | None) -> bool:
    if token.password_type.endswith(PASSWORD_TEXT):
        return creds is not None and (token.username, token.password) == (
            creds.username,
            creds.password,
        )
    return check_password_digest(token.username, token.password, token.nonce, token.created, creds)


def pre_auth_actions(persona: Persona) -> tuple[str, ...]:
    return tuple(persona.block("onvif").get("pre_auth", DEFAULT_PRE_AUTH))


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{NS_SOAP}" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" '
        'xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault(subcode: str, reason: str, code: str = "env:Sender") -> bytes:
    return _envelope(
        f"<env:Fault><env:Code><env:Value>{code}</env:Value><env:Subcode>"
        f"<env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason>'
        "</env:Fault>"
    )


def not_authorized() -> bytes:
    return fault("ter:NotAuthorized", "Sender not Authorized")


def action_not_supported(action: str) -> bytes:
    return fault("ter:ActionNotSupported", f"{action} is not supported", "env:Receiver")


def date_time_response(now: dt.datetime | None = None) -> bytes:
    t = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    part = (
        f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
        f"<tt:Second>{t.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{t.year}</tt:Year><tt:Month>{t.month}</tt:Month>"
        f"<tt:Day>{t.day}</tt:Day></tt:Date>"
    )
    return _envelope(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{part}</tt:UTCDateTime><tt:LocalDateTime>{part}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def device_information_response(persona: Persona) -> bytes:
    o = persona.block("onvif")
    return _envelope(
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{escape(o['manufacturer'])}</tds:Manufacturer>"
        f"<tds:Model>{escape(o['model'])}</tds:Model>"
        f"<tds:FirmwareVersion>{escape(o['firmware'])}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{escape(o['serial'])}</tds:SerialNumber>"
        f"<tds:HardwareId>{escape(o['hardware_id'])}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def _xaddr(persona: Persona, port: int, path: str) -> str:
    host = persona.ip if port == 80 else f"{persona.ip}:{port}"
    return f"http://{host}/onvif/{path}"


def capabilities_response(persona: Persona, port: int) -> bytes:
    return _envelope(
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{_xaddr(persona, port, 'device_service')}</tt:XAddr></tt:Device>"
        f"<tt:Media><tt:XAddr>{_xaddr(persona, port, 'Media')}</tt:XAddr>"
        "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
        "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        "</tt:StreamingCapabilities></tt:Media>"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def services_response(persona: Persona, port: int) -> bytes:
    entries = [
        ("http://www.onvif.org/ver10/device/wsdl", "device_service"),
        ("http://www.onvif.org/ver10/media/wsdl", "Media"),
    ]
    body = "".join(
        f"<tds:Service><tds:Namespace>{ns}</tds:Namespace>"
        f"<tds:XAddr>{_xaddr(persona, port, path)}</tds:XAddr>"
        "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
        for ns, path in entries
    )
    return _envelope(f"<tds:GetServicesResponse>{body}</tds:GetServicesResponse>")


def answer(persona: Persona, action: str, port: int) -> tuple[int, bytes]:
    """The response to an action already known to be allowed (pre-auth or authenticated)."""
    if action == "GetSystemDateAndTime":
        return 200, date_time_response()
    if action == "GetDeviceInformation":
        return 200, device_information_response(persona)
    if action == "GetCapabilities":
        return 200, capabilities_response(persona, port)
    if action == "GetServices":
        return 200, services_response(persona, port)
    return 400, action_not_supported(action)
