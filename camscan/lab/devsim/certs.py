"""Self-signed TLS certificates with vendor-like subjects, made once per run.

One RSA key serves every certificate (key generation is the slow part); certificates and
SSL contexts are cached by (subject, issuer), so 1,000 cameras of one vendor cost one
certificate."""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from camscan.errors import DataError

_ATTR_NAMES = {"SERIALNUMBER": NameOID.SERIAL_NUMBER, "EMAIL": NameOID.EMAIL_ADDRESS}


def parse_name(text: str) -> x509.Name:
    try:
        return x509.Name.from_rfc4514_string(text, _ATTR_NAMES)
    except (ValueError, TypeError) as exc:
        raise DataError(f"bad certificate name {text!r}: {exc}") from exc


class CertStore:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="camscan-devsim-")
        self._key: rsa.RSAPrivateKey | None = None
        self._key_path: Path | None = None
        self._contexts: dict[tuple[str, str, bool], ssl.SSLContext] = {}
        self._serial = 0x1000

    def _ensure_key(self) -> Path:
        if self._key is None or self._key_path is None:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._key_path = Path(self._dir.name) / "key.pem"
            self._key_path.write_bytes(
                self._key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
            )
        return self._key_path

    def certificate_pem(
        self, subject: str, issuer: str | None = None, expired: bool = False
    ) -> bytes:
        """A certificate valid from 400 days ago for ten years; an `expired` one ended 30
        days ago (after a two-year life)."""
        key_path = self._ensure_key()
        assert self._key is not None and key_path
        self._serial += 1
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(days=400), now + dt.timedelta(days=3650)
        if expired:
            start, end = now - dt.timedelta(days=760), now - dt.timedelta(days=30)
        cert = (
            x509.CertificateBuilder()
            .subject_name(parse_name(subject))
            .issuer_name(parse_name(issuer or subject))
            .public_key(self._key.public_key())
            .serial_number(self._serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def context(
        self, subject: str, issuer: str | None = None, expired: bool = False
    ) -> ssl.SSLContext:
        key = (subject, issuer or "", expired)
        ctx = self._contexts.get(key)
        if ctx is None:
            key_path = self._ensure_key()
            cert_path = Path(self._dir.name) / f"cert{len(self._contexts)}.pem"
            cert_path.write_bytes(self.certificate_pem(subject, issuer, expired))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cert_path, key_path)
            self._contexts[key] = ctx
        return ctx

    def close(self) -> None:
        self._contexts.clear()
        self._dir.cleanup()
