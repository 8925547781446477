"""The server name of a ClientHello (RFC 6066 server_name), read from bytes scapy builds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.tls.extensions import (
    ServerName,
    TLS_Ext_ServerName,
    TLS_Ext_SupportedGroups,
    TLS_Ext_SupportedVersion_CH,
)
from scapy.layers.tls.handshake import TLSClientHello, TLSServerHello
from scapy.layers.tls.record import TLS

from camscan.passive.tls import client_hello_sni


def hello(name: bytes | None, *, tls13: bool = False, session: bytes = b"") -> bytes:
    ext = [TLS_Ext_SupportedGroups(groups=[29, 23])]
    if tls13:
        ext.append(TLS_Ext_SupportedVersion_CH(versions=[0x0304, 0x0303]))
    if name is not None:
        ext.append(TLS_Ext_ServerName(servernames=[ServerName(servername=name)]))
    raw = bytes(TLS(msg=[TLSClientHello(ext=ext)]))
    if session:  # scapy misplaces `sid`: put a session id in by hand (TLS 1.3 clients send 32)
        at = 5 + 4 + 34  # record header, handshake header, version + random
        assert raw[at] == 0
        raw = raw[:at] + bytes([len(session)]) + session + raw[at + 1 :]
        body = len(raw) - 9
        raw = raw[:3] + (body + 4).to_bytes(2, "big") + raw[5:6] + body.to_bytes(3, "big") + raw[9:]
    return raw


@pytest.mark.parametrize("tls13", [False, True])
def test_server_name(tls13: bool) -> None:
    raw = hello(b"LiteDev.Hik-Connect.com.", tls13=tls13, session=b"\x01" * 32)
    assert client_hello_sni(raw) == "litedev.hik-connect.com"


def test_no_name_or_not_a_client_hello() -> None:
    assert client_hello_sni(hello(None)) is None
    assert client_hello_sni(bytes(TLS(msg=[TLSServerHello()]))) is None
    assert client_hello_sni(b"GET / HTTP/1.1\r\n\r\n") is None


def test_names_that_are_not_host_names_are_dropped() -> None:
    assert client_hello_sni(hello(b"bad name\x1b[31m")) is None
    assert client_hello_sni(hello(b"\xff\xfe.example")) is None


def test_a_cut_hello_never_gives_part_of_a_name() -> None:
    raw = hello(b"dev.ezvizlife.com")
    assert {client_hello_sni(raw[:n]) for n in range(len(raw) + 1)} == {None, "dev.ezvizlife.com"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_never_raises(data: bytes) -> None:
    result = client_hello_sni(b"\x16\x03\x01" + data)
    assert result is None or isinstance(result, str)
