"""nmap XML (-oX) -> camscan Evidence, per host, from what the devices themselves sent:

  * addresses: `mac` (nmap's OUI vendor kept as the device's mac_vendor when camscan's own
    table has none), every open port as `open_port`;
  * NSE output: http-title (`html_title`, a redirect as `http_location`), http-server-header
    (`http_server`), ssl-cert (the certificate's PEM, read as camscan reads one:
    `x509_subject`, `x509_issuer`), rtsp-methods (`rtsp_public`), upnp-info (`ssdp_server`,
    `upnp_manufacturer`, `upnp_model`, `upnp_device`), banner (`ssh/ftp/telnet_banner`),
    http-favicon (`favicon_md5`) and the broadcast-wsdd-discover pre-script (`wsd_types`,
    attributed to the address of each device's XAddr);
  * -sV: the raw answers nmap records for services it could not name (`servicefp`): HTTP and
    RTSP response headers and pages, read by camscan's own HTTP, RTSP and banner readers.

nmap's own conclusions (service product names, OS guesses) are not evidence: they become
notes on the device ("nmap -sV: 8000/tcp ipcam Hikvision IPCam control port"). Every file is
parsed with defusedxml; anything that is not nmap XML is a one-line UsageError.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from defusedxml import ElementTree as SafeET

from camscan.errors import ParseError, UsageError
from camscan.model import Evidence
from camscan.protocols import kv_lines

MODULE = "nmap"
MAX_FILE = 512 * 1024 * 1024
_XADDR = re.compile(r"Address:\s*https?://\[?([0-9A-Fa-f.:]+?)\]?(?::\d+)?/")
_PROBE = re.compile(r'r\(([A-Za-z0-9_-]+),([0-9A-Fa-f]+),"((?:[^"\\]|\\.)*)"\)', re.S)
_FAVICON = re.compile(r"favicon MD5:\s*([0-9a-fA-F]{32})")
_UPNP_FIELDS = {
    "name": "friendlyName",
    "manufacturer": "manufacturer",
    "model descr": "modelDescription",
    "model name": "modelName",
    "model version": "modelNumber",
}
_BANNER_SERVICES = {"ssh": "ssh_banner", "ftp": "ftp_banner", "telnet": "telnet_banner"}


@dataclass(slots=True)
class NmapImport:
    """Everything read from one or more nmap XML files."""

    evidence: list[Evidence] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # ip -> nmap's own findings
    mac_vendors: dict[str, str] = field(default_factory=dict)  # mac -> nmap's OUI vendor
    started: float | None = None
    finished: float | None = None
    targets: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    hosts_up: int = 0
    up: list[str] = field(default_factory=list)  # every address nmap saw up
    warnings: list[str] = field(default_factory=list)

    def note(self, ip: str, text: str) -> None:
        notes = self.notes.setdefault(ip, [])
        if text not in notes:
            notes.append(text)


def read_nmap_files(paths: Iterable[str]) -> NmapImport:
    out = NmapImport()
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_FILE + 1)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
        if len(data) > MAX_FILE:
            raise UsageError(f"{path}: more than {MAX_FILE // 2**20} MiB of XML")
        try:
            parse_nmap_xml(data, out)
        except ParseError as exc:
            raise UsageError(f"{path}: {exc}") from None
    out.evidence = _dedupe(out.evidence)
    return out


def parse_nmap_xml(data: bytes | str, out: NmapImport | None = None) -> NmapImport:
    """Add what one nmap XML document shows to `out` (a new NmapImport when None)."""
    out = out if out is not None else NmapImport()
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:  # defusedxml raises several types; all mean "not usable"
        raise ParseError(f"not nmap XML ({type(exc).__name__}: {exc})") from None
    if root.tag != "nmaprun":
        raise ParseError(f"not nmap XML (root element {root.tag!r}, not 'nmaprun')")
    start = _float(root.get("start"))
    finished_el = root.find("runstats/finished")
    end = _float(finished_el.get("time")) if finished_el is not None else None
    if finished_el is None:
        out.warnings.append("an nmap run did not finish (no runstats): read as far as it went")
    if start is not None:
        out.started = start if out.started is None else min(out.started, start)
    if end is not None or start is not None:
        last = end if end is not None else start
        out.finished = last if out.finished is None else max(out.finished, last or 0)
    args = root.get("args") or ""
    if args:
        out.commands.append(args)
    out.targets.extend(t for t in _targets(args) if t not in out.targets)
    when = start or 0.0
    for host in root.iter("host"):
        _host(host, out, when)
    for pre in root.iter("prescript"):
        for script in pre.iter("script"):
            if script.get("id") == "broadcast-wsdd-discover":
                _wsdd(script.get("output") or "", out, when)
    return out


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _targets(args: str) -> list[str]:
    """The target specs of an nmap command line (addresses, CIDRs, ranges, names)."""
    words = args.split()[1:]
    takes_value = {
        "-p", "-e", "-oX", "-oN", "-oG", "-oA", "-iL", "--script", "--script-args",
        "-sI", "-D", "-S", "--source-port", "-g", "--exclude", "--max-retries",
        "--host-timeout", "--min-rate", "--max-rate", "--top-ports", "--datadir",
        "--version-intensity", "--dns-servers", "--ttl", "--mtu", "--data-length",
    }  # fmt: skip
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
            continue
        if w.startswith("-"):
            skip = w in takes_value
            continue
        out.append(w)
    return out


def _host(el: Any, out: NmapImport, when: float) -> None:
    status = el.find("status")
    if status is not None and status.get("state") != "up":
        return
    ip = mac = vendor = None
    for addr in el.findall("address"):
        kind = addr.get("addrtype")
        if kind in ("ipv4", "ipv6") and ip is None:
            ip = addr.get("addr")
        elif kind == "mac":
            mac = (addr.get("addr") or "").lower() or None
            vendor = addr.get("vendor")
    if not ip:
        return
    when = _float(el.get("starttime")) or when
    out.hosts_up += 1
    if ip not in out.up:
        out.up.append(ip)
    ev = _Adder(out, ip, mac, when)
    if mac:
        ev.add("mac", mac)
        if vendor:
            out.mac_vendors[mac] = vendor
    for port in el.iter("port"):
        state = port.find("state")
        portid = port.get("portid") or ""
        transport = port.get("protocol") or "tcp"
        if (
            state is None
            or state.get("state") not in ("open", "open|filtered")
            or not portid.isdigit()
        ):
            continue
        num = int(portid)
        if state.get("state") == "open":
            ev.add("open_port", f"{num}/{transport}", port=num)
        service = port.find("service")
        if service is not None:
            _service(service, ev, num, transport)
        for script in port.findall("script"):
            _port_script(script, ev, num, service)
    for script in el.findall("hostscript/script"):
        _port_script(script, ev, None, None)
    for match in el.findall("os/osmatch")[:1]:
        out.note(ip, f"nmap OS guess: {match.get('name')} ({match.get('accuracy')}%)")


class _Adder:
    def __init__(self, out: NmapImport, ip: str, mac: str | None, when: float) -> None:
        self.out, self.ip, self.mac, self.when = out, ip, mac, when

    def add(
        self, protocol: str, value: str, port: int | None = None, source: str | None = None
    ) -> None:
        value = value.strip()
        if value:
            self.out.evidence.append(
                Evidence(MODULE, protocol, value, ip=self.ip, mac=self.mac, port=port,
                         transport="tcp" if port is not None else None, source=source,
                         observed_at=self.when)
            )  # fmt: skip

    def extend(self, items: Iterable[Evidence]) -> None:
        for e in items:
            self.out.evidence.append(
                Evidence(MODULE, e.protocol, e.value, ip=self.ip, mac=self.mac, port=e.port,
                         transport=e.transport, source=e.source, observed_at=self.when)
            )  # fmt: skip


def _service(service: Any, ev: _Adder, port: int, transport: str) -> None:
    words = [service.get(k) for k in ("product", "version", "extrainfo")]
    named = " ".join(w for w in words if w)
    if named:
        kind = service.get("devicetype")
        extra = f" [{kind}]" if kind else ""
        ev.out.note(
            ev.ip, f"nmap -sV: {port}/{transport} {service.get('name') or '?'} {named}{extra}"
        )
    fp = service.get("servicefp")
    if fp and transport == "tcp":
        _servicefp(fp, ev, port, service.get("name") or "", service.get("tunnel"))


def unescape_fp(text: str) -> bytes:
    """nmap's servicefp string escapes (\\xNN, \\r, \\n, \\t, \\0, \\c) -> bytes."""
    out = bytearray()
    i = 0
    simple = {"r": 13, "n": 10, "t": 9, "0": 0}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
                out.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            out.append(simple.get(nxt, ord(nxt) & 0xFF))
            i += 2
            continue
        out += ch.encode("latin-1", "replace")
        i += 1
    return bytes(out)


def probe_responses(fp: str) -> list[tuple[str, bytes]]:
    """[(probe name, raw response)] of a servicefp string."""
    joined = fp.replace("\nSF:", "").replace("\nSF-", "")
    return [(m.group(1), unescape_fp(m.group(3))) for m in _PROBE.finditer(joined)]


def _servicefp(fp: str, ev: _Adder, port: int, name: str, tunnel: str | None) -> None:
    from camscan.discovery.banner import banner_evidence
    from camscan.discovery.http import http_evidence
    from camscan.discovery.httpframe import head_end, parse_head
    from camscan.discovery.rtsp import parse_response, rtsp_evidence

    scheme = "https" if tunnel == "ssl" else "http"
    for probe, data in probe_responses(fp):
        try:
            if probe == "NULL":
                ev.extend(banner_evidence(port, data, ev.ip, module=MODULE))
            elif data.startswith(b"RTSP/"):
                ev.extend(rtsp_evidence(parse_response(data), ev.ip, port, module=MODULE))
            elif data.startswith(b"HTTP/") and probe in ("GetRequest", "FourOhFourRequest"):
                end = head_end(data)
                head, body = (data[:end], data[end:]) if end > 0 else (data, b"")
                status, headers = parse_head(head)
                path = "/" if probe == "GetRequest" else "/nice%20ports%2C/Tri%6Eity.txt%2ebak"
                found = http_evidence(status, headers, body, ev.ip, port, path, module=MODULE,
                                      scheme=scheme)  # fmt: skip
                if probe != "GetRequest":  # the 404 page: its headers only
                    found = [e for e in found if e.protocol in ("http_server", "http_wwwauth")]
                ev.extend(found)
        except (ParseError, ValueError, IndexError):
            continue


def _elems(script: Any) -> dict[str, str]:
    return {str(e.get("key")): (e.text or "") for e in script.findall("elem") if e.get("key")}


def _port_script(script: Any, ev: _Adder, port: int | None, service: Any) -> None:
    sid = script.get("id") or ""
    output = script.get("output") or ""
    if sid == "http-title":
        elems = _elems(script)
        if elems.get("title"):
            ev.add("html_title", elems["title"], port)
        elif "title" not in elems and output and not output.startswith("Site doesn't have"):
            ev.add("html_title", output.splitlines()[0], port)
        if elems.get("redirect_url"):
            ev.add("http_location", elems["redirect_url"], port)
    elif sid == "http-server-header":
        values = [e.text or "" for e in script.findall("elem")] or [output]
        for v in values:
            ev.add("http_server", v, port)
    elif sid == "ssl-cert":
        _ssl_cert(script, ev, port)
    elif sid == "rtsp-methods":
        ev.add("rtsp_public", output.splitlines()[0] if output else "", port)
    elif sid == "upnp-info":
        _upnp(output, ev, port)
    elif sid == "banner" and port is not None:
        name = service.get("name") if service is not None else ""
        protocol = _BANNER_SERVICES.get(name or "")
        if protocol:
            ev.add(protocol, " ".join(output.split()), port)
    elif sid == "http-favicon":
        m = _FAVICON.search(output)
        if m:
            ev.add("favicon_md5", m.group(1).lower(), port)


def _ssl_cert(script: Any, ev: _Adder, port: int | None) -> None:
    from camscan.discovery.tlsinfo import cert_evidence

    pem = _elems(script).get("pem") or ""
    body = "".join(
        line for line in pem.strip().splitlines() if line and not line.startswith("-----")
    )
    if body:
        try:
            ev.extend(cert_evidence(base64.b64decode(body), ev.ip, port, module=MODULE))
            return
        except (ParseError, ValueError):
            pass
    # no PEM (an older nmap): rebuild the subject from the table, in RFC 4514 order
    names = {"commonName": "CN", "organizationalUnitName": "OU", "organizationName": "O",
             "localityName": "L", "stateOrProvinceName": "ST", "countryName": "C"}  # fmt: skip
    for table, protocol in (("subject", "x509_subject"), ("issuer", "x509_issuer")):
        t = script.find(f"table[@key='{table}']")
        if t is None:
            continue
        fields = {str(e.get("key")): e.text or "" for e in t.findall("elem")}
        parts = [
            f"{short}={_rfc4514(fields[long])}" for long, short in names.items() if fields.get(long)
        ]
        if parts:
            ev.add(protocol, ",".join(parts), port)


def _rfc4514(value: str) -> str:
    return re.sub(r'([,+"\\<>;])', r"\\\1", value)


def _upnp(output: str, ev: _Adder, port: int | None) -> None:
    pairs: list[tuple[str, str]] = []
    for line in output.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "server":
            ev.add("ssdp_server", value, port)
        elif key in _UPNP_FIELDS and value:
            pairs.append((_UPNP_FIELDS[key], value))
    fields = dict(pairs)
    if fields.get("manufacturer"):
        ev.add("upnp_manufacturer", fields["manufacturer"], port)
    name, number = fields.get("modelName"), fields.get("modelNumber")
    model = name if not number or (name and number.lower() in name.lower()) else (
        f"{name} {number}" if name else number)  # fmt: skip
    if model:
        ev.add("upnp_model", model, port)
    if pairs:
        ev.add("upnp_device", kv_lines(pairs), port)


def _wsdd(output: str, out: NmapImport, when: float) -> None:
    """broadcast-wsdd-discover prints each answer as a block (Message id, Address, Type)."""
    for block in re.split(r"(?m)^\s*Message id:", output):
        ips = list(dict.fromkeys(_XADDR.findall(block)))
        types = [
            line.split(":", 1)[1].strip()
            for line in block.splitlines()
            if line.strip().lower().startswith("type:")
        ]
        for ip in ips:
            ev = _Adder(out, ip, None, when)
            for t in types:
                ev.add("wsd_types", " ".join(w.split(":")[-1] for w in t.split()))


def _dedupe(items: list[Evidence]) -> list[Evidence]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for e in items:
        key = (e.ip, e.protocol, e.port, e.value)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
