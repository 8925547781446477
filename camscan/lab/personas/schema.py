"""JSON Schema of one persona after its templates are merged (see office.yaml for the format).

Every protocol block is optional: a persona only gets the sockets of the blocks it has.
Unknown keys are refused so a typo in a persona file fails loudly instead of silently
turning a protocol off."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_PORTS = {"type": "array", "items": _PORT, "uniqueItems": True}
_STRMAP = {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


_ROUTE = _obj(
    {
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "title": _NSTR,
        "body": _NSTR,
        "content_type": _STR,
        "location": _STR,
        "headers": _STRMAP,
        "auth": {"type": "boolean"},
    }
)

_HTTP = _obj(
    {
        "ports": _PORTS,
        "tls_ports": _PORTS,
        "server": _NSTR,
        "www_authenticate": {"type": "array", "items": _STR},
        "routes": {"type": "object", "additionalProperties": _ROUTE},
        "not_found": _ROUTE,
        "favicon": _NSTR,
        "tls": _obj({"subject": _STR, "issuer": _NSTR}, ("subject",)),
        "close": {"type": "boolean"},  # one answer per connection, closed without saying so
    }
)

_RTSP = _obj(
    {
        "port": _PORT,
        "server": _NSTR,
        "public": _STR,
        "www_authenticate": {"type": "array", "items": _STR},
    }
)

_ONVIF = _obj(
    {
        "manufacturer": _STR,
        "model": _STR,
        "firmware": _STR,
        "serial": _STR,
        "hardware_id": _STR,
        "pre_auth": {"type": "array", "items": _STR},
    },
    ("manufacturer", "model", "firmware", "serial", "hardware_id"),
)

_WSD = _obj(
    {
        "types": _STR,
        "scopes": {"type": "array", "items": _STR},
        "xaddrs": _STR,
        "metadata_version": {"type": "integer"},
        "max_delay_ms": {"type": "integer", "minimum": 0, "maximum": 5000},
        # where ProbeMatches go: back to the prober (the standard), or to the group, as some
        # stacks do
        "reply_to": {"enum": ["prober", "group"]},
    },
    ("types", "scopes"),
)

_SADP = _obj({"fields": _STRMAP}, ("fields",))
_DHIP = _obj({"device_info": {"type": "object"}}, ("device_info",))
_DAHUA_LEGACY = _obj({"device_type": _STR, "fields": _STRMAP}, ("device_type",))
_HANWHA = _obj({"model": _STR, "http_port": _PORT, "device_port": _PORT}, ("model",))
_BOSCH = _obj(
    {"format": {"enum": ["binary", "xml"]}, "unit_name": _STR, "firmware": _STR},
    ("unit_name",),
)
_UBIQUITI = _obj(
    {
        "model_short": _STR,
        "model_full": _STR,
        "firmware": _STR,
        "hostname": _STR,
        "essid": _STR,
        "platform": _STR,
    },
    ("model_short", "firmware"),
)
_MDNS = {
    "type": "array",
    "items": _obj(
        {"type": _STR, "name": _STR, "host": _STR, "port": _PORT, "txt": _STRMAP},
        ("type", "name", "port"),
    ),
}
_SSDP = _obj(
    {
        "server": _STR,
        "device_type": _STR,
        "friendly_name": _STR,
        "manufacturer": _STR,
        "manufacturer_url": _STR,
        "model_name": _STR,
        "model_number": _STR,
        "model_description": _STR,
        "serial": _STR,
        "services": {"type": "array", "items": _STR},
        "port": _PORT,
        "path": _STR,
    },
    ("server", "device_type", "friendly_name", "manufacturer", "model_name"),
)
# Sent in the boot announcements only (camscan.lab.devsim.announce): a DHCPREQUEST with these.
_DHCP = _obj(
    {
        "vendor_class": _STR,
        "hostname": _STR,
        "params": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 254}},
    }
)
_TCP = {
    "type": "object",
    "propertyNames": {"pattern": "^[0-9]{1,5}$"},
    "additionalProperties": _obj(
        {
            "banner": _NSTR,  # a text line, sent with CRLF on connect
            "banner_hex": {"type": "string", "pattern": "^([0-9a-f]{2})+$"},  # raw bytes
            "audit_data": {"type": "boolean"},
        }
    ),
}

# What a hostile persona does wrong (implemented by camscan.lab.devsim.hostile).
HOSTILE_MODES: dict[str, str] = {
    "xml_bomb": "every XML answer (WS-Discovery, SADP, UPnP description) is a billion-laughs "
    "entity bomb",
    "xml_xxe": "every XML answer declares external entities: a local file and a URL on the "
    "device itself (fetching it is audited as xxe_fetch)",
    "wsd_flood": "each WS-Discovery probe draws 500 ProbeMatches, each with a fresh endpoint",
    "http_huge_body": "HTTP answers announce a 1 GB body and stream it",
    "http_slowloris": "HTTP answer heads trickle at one byte per second",
    "http_endless_chunked": "HTTP answers are chunked and never end",
    "http_control_chars": "HTTP headers and <title> carry terminal escapes, C0/C1 controls "
    "and invalid UTF-8",
    "tls_expired": "TLS ports present a certificate that expired",
    "tls_garbage": "TLS ports answer the ClientHello with random bytes",
    "rtsp_silent": "the RTSP port accepts connections and never answers",
    "tcp_reset": "every TCP connection is reset as soon as it is accepted",
    "garbage": "every TCP port and discovery answer is random bytes",
    "liar": "SADP and Dahua discovery answers state device.claim_ip and device.claim_mac "
    "(another device's) instead of the persona's own",
}

TRUTH_KEYS = ("manufacturer", "brand", "model", "firmware", "device_type", "is_surveillance")
DEVICE_TYPES = ("camera", "nvr", "dvr", "encoder", "doorbell", "other", "unknown")

_TRUTH = _obj(
    {
        "manufacturer": _NSTR,
        "brand": _NSTR,
        "model": _NSTR,
        "firmware": _NSTR,
        "device_type": {"enum": list(DEVICE_TYPES)},
        "is_surveillance": {"type": "boolean"},
        "serial": _NSTR,
        "notes": _STR,
    },
    TRUTH_KEYS,
)

PERSONA_SCHEMA: dict[str, Any] = _obj(
    {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"},
        "ip": _STR,
        "mac": _STR,
        "prefix": {"type": "integer", "minimum": 8, "maximum": 32},
        "gateway": _STR,
        "hostile": {"type": "boolean"},
        "hostile_modes": {
            "type": "array",
            "items": {"enum": list(HOSTILE_MODES)},
            "uniqueItems": True,
        },
        "device": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
        "credentials": {
            "oneOf": [
                {"type": "null"},
                _obj({"username": _STR, "password": _STR}, ("username", "password")),
            ]
        },
        "truth": _TRUTH,
        "http": _HTTP,
        "rtsp": _RTSP,
        "onvif": _ONVIF,
        "wsd": _WSD,
        "sadp": _SADP,
        "dhip": _DHIP,
        "dahua_legacy": _DAHUA_LEGACY,
        "hanwha": _HANWHA,
        "bosch": _BOSCH,
        "ubiquiti": _UBIQUITI,
        "mdns": _MDNS,
        "ssdp": _SSDP,
        "dhcp": _DHCP,
        "tcp": _TCP,
    },
    ("name", "ip", "mac", "truth"),
)

PROTOCOL_BLOCKS = (
    "http",
    "rtsp",
    "onvif",
    "wsd",
    "sadp",
    "dhip",
    "dahua_legacy",
    "hanwha",
    "bosch",
    "ubiquiti",
    "mdns",
    "ssdp",
    "dhcp",
    "tcp",
)
