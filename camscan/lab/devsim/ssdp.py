"""SSDP (UPnP discovery, UDP 1900, group 239.255.255.250) and the UPnP device description.

An M-SEARCH with MAN "ssdp:discover" and ST ssdp:all, upnp:rootdevice, uuid:<device uuid>,
the device type or one of its service types gets one unicast HTTP/1.1 200 OK per matching
target (ssdp:all: all of them), from (device ip, 1900) to the searcher, after a random delay
within min(MX, 1) s. Headers: CACHE-CONTROL, DATE, EXT, LOCATION (http://ip:port/path of the
description), SERVER, ST, USN (uuid:<uuid>::<target>, or uuid:<uuid> for the uuid target),
BOOTID.UPNP.ORG, CONFIGID.UPNP.ORG. The description XML (urn:schemas-upnp-org:device-1-0)
carries deviceType, friendlyName, manufacturer, manufacturerURL, modelDescription,
modelName, modelNumber, serialNumber, UDN and a serviceList. The same targets are announced
with NOTIFY ssdp:alive / ssdp:byebye (camscan.lab.devsim.announce)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from xml.sax.saxutils import escape

from camscan.errors import ParseError
from camscan.lab.devsim import hostile
from camscan.lab.devsim.context import SimContext
from camscan.lab.devsim.udp import Send, open_udp
from camscan.lab.devsim.wire import http_date
from camscan.lab.personas import Persona

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
DEFAULT_DESC_PORT = 49152
DEFAULT_DESC_PATH = "/description.xml"


@dataclass(frozen=True)
class MSearch:
    st: str
    mx: int
    man: str


def parse_msearch(data: bytes) -> MSearch:
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("M-SEARCH is not UTF-8") from exc
    lines = text.split("\r\n")
    if lines[0].strip().upper() != "M-SEARCH * HTTP/1.1":
        raise ParseError("not an M-SEARCH")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().upper()] = value.strip()
    mx_raw = headers.get("MX", "1")
    mx = int(mx_raw) if mx_raw.isdigit() else 1
    return MSearch(headers.get("ST", ""), mx, headers.get("MAN", "").strip('"'))


def desc_port(persona: Persona) -> int:
    return int(persona.block("ssdp").get("port", DEFAULT_DESC_PORT))


def desc_path(persona: Persona) -> str:
    return persona.block("ssdp").get("path", DEFAULT_DESC_PATH)


def location(persona: Persona) -> str:
    return f"http://{persona.ip}:{desc_port(persona)}{desc_path(persona)}"


def targets(persona: Persona) -> list[tuple[str, str]]:
    """(ST, USN) pairs the device answers for."""
    s = persona.block("ssdp")
    udn = f"uuid:{persona.uuid}"
    out = [("upnp:rootdevice", f"{udn}::upnp:rootdevice"), (udn, udn)]
    out.append((s["device_type"], f"{udn}::{s['device_type']}"))
    out += [(svc, f"{udn}::{svc}") for svc in s.get("services", [])]
    return out


def responses_for(persona: Persona, st: str) -> list[bytes]:
    s = persona.block("ssdp")
    chosen = [t for t in targets(persona) if st == "ssdp:all" or t[0] == st]
    return [
        (
            "HTTP/1.1 200 OK\r\n"
            "CACHE-CONTROL: max-age=1800\r\n"
            f"DATE: {http_date()}\r\n"
            "EXT:\r\n"
            f"LOCATION: {location(persona)}\r\n"
            f"SERVER: {s['server']}\r\n"
            f"ST: {target}\r\n"
            f"USN: {usn}\r\n"
            "BOOTID.UPNP.ORG: 1\r\n"
            "CONFIGID.UPNP.ORG: 1\r\n"
            "\r\n"
        ).encode()
        for target, usn in chosen
    ]


def notifies(persona: Persona, nts: str = "ssdp:alive") -> list[bytes]:
    """The NOTIFY messages a device multicasts for each of its targets (UDA 1.1 1.2.2/1.2.4):
    ssdp:alive with LOCATION, SERVER and CACHE-CONTROL; ssdp:byebye with NT and USN only."""
    s = persona.block("ssdp")
    alive = nts == "ssdp:alive"
    out = []
    for target, usn in targets(persona):
        lines = ["NOTIFY * HTTP/1.1", f"HOST: {SSDP_GROUP}:{SSDP_PORT}"]
        if alive:
            lines += ["CACHE-CONTROL: max-age=1800", f"LOCATION: {location(persona)}"]
        lines += [f"NT: {target}", f"NTS: {nts}"]
        if alive:
            lines.append(f"SERVER: {s['server']}")
        lines += [f"USN: {usn}", "BOOTID.UPNP.ORG: 1", "CONFIGID.UPNP.ORG: 1"]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode())
    return out


def description_xml(persona: Persona) -> bytes:
    s = persona.block("ssdp")

    def el(tag: str, key: str) -> str:
        value = s.get(key)
        return f"<{tag}>{escape(str(value))}</{tag}>" if value is not None else ""

    services = "".join(
        "<service>"
        f"<serviceType>{escape(svc)}</serviceType>"
        f"<serviceId>urn:upnp-org:serviceId:{escape(svc.split(':')[-2])}1</serviceId>"
        f"<SCPDURL>/{escape(svc.split(':')[-2])}.xml</SCPDURL>"
        f"<controlURL>/ctl/{escape(svc.split(':')[-2])}</controlURL>"
        f"<eventSubURL>/evt/{escape(svc.split(':')[-2])}</eventSubURL>"
        "</service>"
        for svc in s.get("services", [])
    )
    return (
        '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
        + el("deviceType", "device_type")
        + el("friendlyName", "friendly_name")
        + el("manufacturer", "manufacturer")
        + el("manufacturerURL", "manufacturer_url")
        + el("modelDescription", "model_description")
        + el("modelName", "model_name")
        + el("modelNumber", "model_number")
        + el("serialNumber", "serial")
        + f"<UDN>uuid:{persona.uuid}</UDN>"
        + (f"<serviceList>{services}</serviceList>" if services else "")
        + f"<presentationURL>http://{persona.ip}/</presentationURL>"
        + "</device></root>\n"
    ).encode()


async def serve(persona: Persona, ctx: SimContext) -> list[asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()

    def on_packet(data: bytes, src: tuple[str, int], send: Send) -> None:
        try:
            search = parse_msearch(data)
        except ParseError:
            return  # NOTIFYs and other SSDP chatter
        if search.man.lower() != "ssdp:discover":
            return
        replies = responses_for(persona, search.st)
        if persona.mode("garbage"):
            replies = [hostile.garbage(persona, f"ssdp{i}") for i in range(len(replies))]
        for reply in replies:
            delay = ctx.rng.uniform(0, min(max(search.mx, 0), 1))
            loop.call_later(delay, send, reply, src)

    label = f"ssdp {persona.name}"
    return await open_udp(ctx, persona.ip, SSDP_PORT, [SSDP_GROUP], on_packet, label)
