"""Dahua discovery: DHIP and legacy frames, hostile JSON, and the module over UDP on
127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import struct
from ipaddress import IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camscan.discovery.base import ScanContext, ScanSettings
from camscan.discovery.dahua import (
    DahuaModule,
    build_dhip_search,
    build_legacy_search,
    dahua_evidence,
    parse,
)
from camscan.errors import ParseError

DEVICE_INFO = {
    "AlarmInputChannels": 1,
    "DeviceClass": "IPC",
    "DeviceType": "IPC-HFW2431S-S-S2",
    "HttpPort": 80,
    "IPv4Address": {
        "DefaultGateway": "198.18.0.254",
        "DhcpEnable": False,
        "IPAddress": "198.18.0.19",
        "SubnetMask": "255.255.255.0",
    },
    "IPv6Address": {"IPAddress": "fe80::3eef:8cff:fe1b:1919/64", "DhcpEnable": False},
    "MachineName": "5J0ABCD1234567",
    "Port": 37777,
    "SerialNo": "5J0ABCD1234567",
    "Vendor": "General",
    "Version": "2.800.0000000.16.R",
    "Capabilities": ["Onvif", "P2P"],
}


def dhip(doc: object, *, header_len: int = 0x20, declared: int | None = None) -> bytes:
    body = json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
    n = len(body) if declared is None else declared
    return struct.pack("<I4s8xI4xI4x", header_len, b"DHIP", n, n) + body


REPLY = dhip(
    {
        "mac": "3c:ef:8c:1b:19:19",
        "method": "client.notifyDevInfo",
        "params": {"deviceInfo": DEVICE_INFO},
    }
)


def legacy_reply(model: bytes = b"IPC-HDW1230S", tail: bytes | None = None) -> bytes:
    head = bytearray(0x48)
    head[0] = 0xB3
    head[0x28 : 0x28 + len(model)] = model
    head[0x38:0x48] = bytes([198, 18, 0, 21, 255, 255, 255, 0, 198, 18, 0, 254, 198, 18, 0, 53])
    if tail is None:
        tail = b"9c:8e:cd:2a:21:21\x00SerialNo=ABC123\r\nVendor=Amcrest\r\nIPv6Addr=::\r\n"
    return bytes(head) + tail


def test_dhip_search_frame() -> None:
    data = build_dhip_search()
    hlen, magic, n1, n2 = struct.unpack_from("<I4s8xI4xI4x", data)
    assert (hlen, magic) == (0x20, b"DHIP") and n1 == n2 == len(data) - 32
    assert data[8:16] == bytes(8)
    assert json.loads(data[32:]) == {
        "method": "DHDiscover.search",
        "params": {"mac": "", "uni": 1},
    }
    with pytest.raises(ParseError):
        parse(data)  # a search is not a reply


def test_legacy_search_frame() -> None:
    data = build_legacy_search()
    assert data[0] == 0xA3 and len(data) == 32 and not any(data[1:])


def test_dhip_reply() -> None:
    reply = parse(REPLY)
    assert reply.kind == "dhip" and reply.port == 37810
    assert reply.mac == "3c:ef:8c:1b:19:19" and reply.ipv4 == "198.18.0.19"
    assert reply.get("DeviceType") == "IPC-HFW2431S-S-S2"
    assert reply.get("IPv4Address.IPAddress") == "198.18.0.19"
    assert reply.get("IPv4Address.DhcpEnable") == "false"
    assert reply.get("Capabilities") == "Onvif,P2P"
    assert [k for k, _ in reply.pairs][:3] == ["AlarmInputChannels", "DeviceClass", "DeviceType"]
    assert reply.pairs[-1] == ("mac", "3c:ef:8c:1b:19:19")


def test_dhip_evidence() -> None:
    (ev,) = dahua_evidence(parse(REPLY), "198.18.0.19")
    assert ev.protocol == "dahua_discovery" and ev.port == 37810 and ev.transport == "udp"
    lines = ev.value.splitlines()
    for expected in (
        "DeviceClass=IPC",
        "DeviceType=IPC-HFW2431S-S-S2",
        "SerialNo=5J0ABCD1234567",
        "Vendor=General",
        "Version=2.800.0000000.16.R",
        "HttpPort=80",
        "Port=37777",
    ):
        assert expected in lines
    assert ev.mac == "3c:ef:8c:1b:19:19"


def test_dhip_tolerates_header_quirks() -> None:
    body = json.dumps({"method": "client.notifyDevInfo", "params": {"deviceInfo": {"A": 1}}})
    for data in (
        dhip(body.encode() + b"\x00\x00"),  # NUL padding
        dhip(body.encode(), declared=0),  # no length given
        dhip(body.encode(), declared=10**6),  # length beyond the datagram
        dhip(body.encode(), header_len=999),  # silly header length
    ):
        assert parse(data).pairs == [("A", "1")]


def test_legacy_reply() -> None:
    reply = parse(legacy_reply())
    assert reply.kind == "legacy" and reply.port == 5050
    assert reply.get("DeviceType") == "IPC-HDW1230S"
    assert reply.ipv4 == "198.18.0.21" and reply.get("IPv4Address.SubnetMask") == "255.255.255.0"
    assert reply.get("DNS") == "198.18.0.53"
    assert reply.mac == "9c:8e:cd:2a:21:21"
    assert reply.get("SerialNo") == "ABC123" and reply.get("Vendor") == "Amcrest"
    (ev,) = dahua_evidence(reply, None)
    assert ev.ip == "198.18.0.21" and "DeviceType=IPC-HDW1230S" in ev.value.splitlines()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x20\x00\x00\x00DHIP",
        dhip(b"not json"),
        dhip(b"[1,2,3]"),
        dhip({"method": "client.notifyDevInfo"}),
        dhip({"method": "client.notifyDevInfo", "params": {"deviceInfo": [1]}}),
        dhip({"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}}),
        dhip(b"\xff\xfe\xfd"),
        dhip(b"[" * 50000 + b"]" * 50000),  # nesting bomb
        dhip(
            b'{"method":"client.notifyDevInfo","params":{"deviceInfo":{"A":' + b"9" * 5000 + b"}}}"
        ),
        b"\xb3" + bytes(20),
        legacy_reply(model=b"", tail=b""),
        b"\xa3" + bytes(31),
    ],
)
def test_garbage_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse(data)


def test_huge_json_is_refused() -> None:
    big = dhip(b'{"method":"client.notifyDevInfo","pad":"' + b"x" * 70000 + b'"}')
    with pytest.raises(ParseError):
        parse(big)


def test_many_fields_are_capped() -> None:
    info = {f"K{i}": i for i in range(1000)}
    reply = parse(dhip({"method": "client.notifyDevInfo", "params": {"deviceInfo": info}}))
    assert len(reply.pairs) <= 129


@given(st.binary(max_size=1024))
@settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_reply_or_parse_error(data: bytes) -> None:
    for frame in (data, b"\x20\x00\x00\x00DHIP" + data, b"\xb3" + data):
        try:
            reply = parse(frame)
        except ParseError:
            continue
        dahua_evidence(reply, "198.18.0.1")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=10))
@settings(max_examples=200, deadline=None)
def test_any_device_info_json(info: dict[str, object]) -> None:
    reply = parse(dhip({"method": "client.notifyDevInfo", "params": {"deviceInfo": info}}))
    (ev,) = dahua_evidence(reply, "198.18.0.1")
    assert len(ev.value.splitlines()) == len([v for _, v in reply.pairs])  # no forged lines


# -- sockets on 127.0.0.1 -------------------------------------------------------------------
class FakeDahua(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests.append(data)
        if data[4:8] == b"DHIP":
            self.transport.sendto(REPLY, addr)  # type: ignore[attr-defined]
        elif data[:1] == b"\xa3":
            self.transport.sendto(legacy_reply(), addr)  # type: ignore[attr-defined]


async def test_module_over_loopback() -> None:
    loop = asyncio.get_running_loop()
    dhip_dev, legacy_dev = FakeDahua(), FakeDahua()
    t1, _ = await loop.create_datagram_endpoint(lambda: dhip_dev, local_addr=("127.0.0.1", 0))
    t2, _ = await loop.create_datagram_endpoint(lambda: legacy_dev, local_addr=("127.0.0.1", 0))
    try:
        ctx = ScanContext(
            targets=[IPv4Network("127.0.0.0/8")],
            interface=None,
            local_ip="127.0.0.1",
            settings=ScanSettings(listen_window=0.4),
        )
        module = DahuaModule(
            dhip_destinations=[t1.get_extra_info("sockname")],
            legacy_destinations=[t2.get_extra_info("sockname")],
        )
        assert module.listeners == []  # no fixed-port listeners when destinations are given
        await module.run(ctx)
    finally:
        t1.close()
        t2.close()
    assert [r[4:8] for r in dhip_dev.requests] == [b"DHIP"]
    assert [r[:1] for r in legacy_dev.requests] == [b"\xa3"]
    assert sorted(e.port for e in ctx.evidence) == [5050, 37810]
    assert all(e.protocol == "dahua_discovery" and e.ip == "127.0.0.1" for e in ctx.evidence)
    assert ctx.warnings == []


def test_default_destinations_use_only_the_scan_subnet_broadcast() -> None:
    ctx = ScanContext(
        targets=[IPv4Network("198.18.0.0/16")],
        interface=None,
        local_ip="198.18.0.1",
        attached=[IPv4Network("198.18.0.0/24"), IPv4Network("10.9.0.0/24")],
    )
    payloads = DahuaModule()._payloads(ctx)
    dests = [(d, p[:1]) for p, d in payloads]
    assert (("239.255.255.251", 37810), b"\x20") in dests
    assert (("198.18.0.255", 37810), b"\x20") in dests
    assert (("198.18.0.255", 5050), b"\xa3") in dests
    assert not any(d[0].startswith("10.9.") for d, _ in dests)
