"""TLS for identification, not trust: a client context that talks to old camera firmware, a
raw handshake that reads the peer certificate, and certificate -> evidence.

Expired, self-signed, weak-key and otherwise broken certificates must still be read: they are
exactly what old devices present, and their subject names the vendor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
import warnings
from datetime import UTC, datetime

from cryptography import x509

from camscan.discovery.html import clean_text
from camscan.discovery.wire import evidence, url_host
from camscan.errors import ParseError
from camscan.model import Evidence

_MAX_DER = 64 * 1024
_NAME_MAX = 1024
# OpenSSL flag letting us talk to servers without secure renegotiation (old embedded TLS);
# the ssl module exposes the constant only from Python 3.12.
_OP_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)


@functools.lru_cache(maxsize=1)
def client_ssl_context() -> ssl.SSLContext:
    """A TLS client context that verifies nothing and accepts old protocols and ciphers.
    One per process: building it (and loading OpenSSL's defaults) is costly, and its settings
    never change."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ssl.SSLError, ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old firmware: TLS 1.0 is the point
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.options |= _OP_LEGACY_SERVER_CONNECT
    return ctx


async def fetch_peer_certificate(ip: str, port: int, timeout: float) -> bytes | None:
    """DER of the certificate ip:port presents in a TLS handshake (None: it sent none).

    Raises TimeoutError, OSError or ssl.SSLError when there is no handshake to be had.
    """
    async with asyncio.timeout(timeout):
        _reader, writer = await asyncio.open_connection(ip, port, ssl=client_ssl_context())
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.transport.abort()  # no close_notify dance with a device we only looked at


def cert_names(der: bytes) -> tuple[str, str]:
    """(subject, issuer) of a DER certificate as RFC 4514 strings; ParseError on garbage."""
    if not isinstance(der, bytes | bytearray) or not der or len(der) > _MAX_DER:
        raise ParseError("not a certificate (empty or oversized)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd serials and the like only warn
            cert = x509.load_der_x509_certificate(bytes(der))
            subject = cert.subject.rfc4514_string()
            issuer = cert.issuer.rfc4514_string()
    except Exception as exc:  # cryptography raises ValueError and its own Rust errors
        raise ParseError(f"not an X.509 certificate ({type(exc).__name__})") from None
    return clean_text(subject, _NAME_MAX), clean_text(issuer, _NAME_MAX)


def cert_problems(der: bytes, now: datetime | None = None) -> list[str]:
    """What is wrong with a certificate's validity period, as notes ("expired on ...");
    an unreadable certificate gives no notes (cert_names reports it)."""
    if not isinstance(der, bytes | bytearray) or not der or len(der) > _MAX_DER:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(bytes(der))
            start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    except Exception:  # noqa: BLE001 - cryptography's own errors, as in cert_names
        return []
    now = now or datetime.now(UTC)
    if end < now:
        return [f"TLS certificate expired on {end:%Y-%m-%d}"]
    if start > now:
        return [f"TLS certificate not valid before {start:%Y-%m-%d}"]
    return []


def cert_evidence(
    der: bytes,
    ip: str | None,
    port: int | None,
    *,
    module: str = "http",
    observed_at: float | None = None,
    packet: int | None = None,
    source: str | None = None,
) -> list[Evidence]:
    """x509_subject and x509_issuer evidence from a DER certificate; ParseError on garbage."""
    subject, issuer = cert_names(der)
    when = time.time() if observed_at is None else observed_at
    if source is None and ip is not None:
        source = f"https://{url_host(ip, port)}/"
    out = []
    for protocol, value in (("x509_subject", subject), ("x509_issuer", issuer)):
        if value:
            out.append(
                evidence(
                    module=module,
                    protocol=protocol,
                    value=value,
                    ip=ip,
                    port=port,
                    transport="tcp",
                    source=source,
                    observed_at=when,
                    packet=packet,
                )
            )
    return out
