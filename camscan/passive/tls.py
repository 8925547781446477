"""The server certificate out of a TLS handshake seen on the wire (TLS 1.2 and older).

The server's first flight is ServerHello, Certificate, [ServerKeyExchange], ServerHelloDone,
carried in handshake records that may split or merge messages freely. TLS 1.3 encrypts the
Certificate message, so a 1.3 ServerHello ends the search.

The client's first record, the ClientHello, names the server it wants in the server_name
extension (RFC 6066 3) in every TLS version: a camera connecting to its maker's cloud says so
there even when its DNS lookup was not captured.
"""

from __future__ import annotations

from enum import Enum

_HANDSHAKE, _CCS, _ALERT = 22, 20, 21
_SERVER_HELLO, _CERTIFICATE, _SERVER_HELLO_DONE = 2, 11, 14
_CLIENT_HELLO = 1
_SERVER_NAME, _HOST_NAME = 0, 0
_SUPPORTED_VERSIONS = 43
_TLS13 = b"\x03\x04"


class Tls(Enum):
    MORE = "more"  # the leaf certificate is not complete yet
    NONE = "none"  # this handshake will not show one (TLS 1.3, no certificate, not TLS)
    FOUND = "found"


def is_tls_start(payload: bytes) -> bool:
    """A handshake record of SSL 3.0 .. TLS 1.2 framing."""
    return len(payload) >= 3 and payload[0] == _HANDSHAKE and payload[1] == 3 and payload[2] <= 4


def _handshake_bytes(buf: bytes) -> tuple[bytes, bool]:
    """Concatenated handshake payloads of the complete records, and whether a non-handshake
    record (the end of the clear-text flight) was reached."""
    parts: list[bytes] = []
    i = 0
    while i + 5 <= len(buf):
        ctype, length = buf[i], (buf[i + 3] << 8) | buf[i + 4]
        if buf[i + 1] != 3:
            return b"".join(parts), True
        if ctype != _HANDSHAKE:
            return b"".join(parts), True
        if i + 5 + length > len(buf):
            # a partial record still helps: the leaf often sits in its first bytes
            parts.append(buf[i + 5 :])
            break
        parts.append(buf[i + 5 : i + 5 + length])
        i += 5 + length
    return b"".join(parts), False


def _is_tls13(hello: bytes) -> bool:
    """True when a ServerHello body selects TLS 1.3 (supported_versions extension)."""
    # version(2) random(32) session_id(1+n) cipher(2) compression(1) extensions(2+...)
    i = 34
    if i >= len(hello):
        return False
    i += 1 + hello[i] + 3
    if i + 2 > len(hello):
        return False
    end = min(len(hello), i + 2 + ((hello[i] << 8) | hello[i + 1]))
    i += 2
    while i + 4 <= end:
        etype, elen = (hello[i] << 8) | hello[i + 1], (hello[i + 2] << 8) | hello[i + 3]
        if etype == _SUPPORTED_VERSIONS and hello[i + 4 : i + 6] == _TLS13:
            return True
        i += 4 + elen
    return False


def leaf_certificate(buf: bytes) -> tuple[Tls, bytes | None]:
    """Look through a server's reassembled bytes for the leaf certificate's DER."""
    if not is_tls_start(buf):
        return Tls.NONE, None
    hs, flight_over = _handshake_bytes(buf)
    i = 0
    while i + 4 <= len(hs):
        mtype = hs[i]
        mlen = (hs[i + 1] << 16) | (hs[i + 2] << 8) | hs[i + 3]
        body = hs[i + 4 : i + 4 + mlen]
        if mtype == _CERTIFICATE:
            # certificate_list length (3), then each: length (3) + DER
            if len(body) < 6:
                break
            clen = (body[3] << 16) | (body[4] << 8) | body[5]
            if clen == 0:
                return Tls.NONE, None
            der = body[6 : 6 + clen]
            if len(der) == clen:
                return Tls.FOUND, bytes(der)
            break
        if len(body) < mlen:
            break
        if mtype == _SERVER_HELLO and _is_tls13(body):
            return Tls.NONE, None
        if mtype == _SERVER_HELLO_DONE:
            return Tls.NONE, None
        i += 4 + mlen
    return (Tls.NONE, None) if flight_over else (Tls.MORE, None)


def client_hello_sni(payload: bytes) -> str | None:
    """The host name a ClientHello asks for, when the first segment of a client's stream holds
    the ClientHello up to its server_name extension; None otherwise (never raises)."""
    if not is_tls_start(payload) or len(payload) < 9 or payload[5] != _CLIENT_HELLO:
        return None
    hello = payload[9 : 9 + ((payload[6] << 16) | (payload[7] << 8) | payload[8])]
    # version(2) random(32) session_id(1+n) cipher_suites(2+n) compression(1+n) extensions(2+n)
    i = 34
    if i >= len(hello):
        return None
    i += 1 + hello[i]
    if i + 2 > len(hello):
        return None
    i += 2 + ((hello[i] << 8) | hello[i + 1])
    if i >= len(hello):
        return None
    i += 1 + hello[i]
    if i + 2 > len(hello):
        return None
    end = min(len(hello), i + 2 + ((hello[i] << 8) | hello[i + 1]))
    i += 2
    while i + 4 <= end:
        etype, elen = (hello[i] << 8) | hello[i + 1], (hello[i + 2] << 8) | hello[i + 3]
        if etype == _SERVER_NAME:
            ext = hello[i + 4 : i + 4 + elen]
            # server_name_list length (2), then name_type (1), length (2), name
            if len(ext) >= 5 and ext[2] == _HOST_NAME:
                size = (ext[3] << 8) | ext[4]
                name = ext[5 : 5 + size]
                if len(name) != size:
                    return None  # cut off by the segment's end
                try:
                    text = name.decode("ascii").rstrip(".").lower()
                except UnicodeDecodeError:
                    return None
                ok = text and all(c.isalnum() or c in "-._" for c in text)
                return text if ok else None
            return None
        i += 4 + elen
    return None
