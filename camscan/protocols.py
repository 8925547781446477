"""The one vocabulary of evidence protocols, used by discovery modules, the passive reader,
fingerprint rules and `camscan match`. Structured payloads (SADP, Dahua discovery, ONVIF
device information, UPnP descriptions, mDNS TXT) are flattened to `key=value` lines in the
order the device sent them; rules read them with `extract` regexes."""

from __future__ import annotations

PROTOCOLS: dict[str, str] = {
    "http_server": "HTTP Server header",
    "http_wwwauth": "HTTP WWW-Authenticate header (realm)",
    "http_location": "HTTP redirect target (Location header)",
    "html_title": "HTML <title> text",
    "http_body": "first line 'GET <path> -> <status>', then up to 4 KiB of the body as text",
    "favicon_mmh3": "favicon hash, Shodan's convention (signed 32-bit mmh3 of base64)",
    "favicon_md5": "favicon hash, recog's convention (md5 hex of the raw bytes)",
    "x509_subject": "TLS certificate subject (RFC 4514)",
    "x509_issuer": "TLS certificate issuer (RFC 4514)",
    "rtsp_server": "RTSP Server header",
    "rtsp_wwwauth": "RTSP WWW-Authenticate header (realm)",
    "rtsp_public": "RTSP Public header (method list of OPTIONS)",
    "ssh_banner": "SSH identification string",
    "ftp_banner": "FTP greeting",
    "telnet_banner": "telnet greeting or login prompt",
    "tcp_greeting": "what a binary vendor port (Hikvision SDK 8000) sends unasked on connect, "
    "as 'PORT:hex'",
    "snmp_sysdescr": "SNMP sysDescr",
    "ssdp_server": "SSDP SERVER header",
    "upnp_manufacturer": "UPnP device description: manufacturer",
    "upnp_model": "UPnP device description: modelName (and modelNumber)",
    "upnp_device": "UPnP device description as key=value lines",
    "wsd_scopes": "WS-Discovery Scopes (space-separated URIs)",
    "wsd_types": "WS-Discovery Types (space-separated local names)",
    "mdns_service": "mDNS/DNS-SD service instance name (instance.type.local.)",
    "mdns_txt": "mDNS TXT record as key=value lines",
    "sadp": "Hikvision SADP ProbeMatch as key=value lines",
    "dahua_discovery": "Dahua discovery reply (DHIP or legacy) as key=value lines",
    "vendor_discovery": "another vendor discovery reply as key=value lines (vendor=...)",
    "onvif_device_info": "ONVIF GetDeviceInformation as key=value lines",
    "onvif_datetime": "ONVIF GetSystemDateAndTime without credentials: UTC=..., answered or fault=...",
    "dhcp_vendor_class": "DHCP option 60",
    "dhcp_hostname": "DHCP option 12",
    "dhcp_params": "DHCP option 55 parameter request list (comma-separated)",
    "dns_query": "a vendor-cloud name the host looked up, or asked for in a TLS ClientHello "
    "(port set) (passive mode)",
    "mac": "a MAC address; rules read its IEEE registrant organisation",
    "open_port": "an open port as 'PORT/tcp' or 'PORT/udp'",
}


def kv_lines(pairs: dict[str, object] | list[tuple[str, object]]) -> str:
    """Flatten a structured payload to the key=value line form rules read."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out = []
    for key, value in items:
        if value is None:
            continue
        name = "".join(ch for ch in str(key) if ch.isprintable() and ch not in "= ")
        text = " ".join(str(value).split())
        out.append(f"{name}={text}")
    return "\n".join(out)
