"""Certificate and key parsing. Uses `cryptography` when it is installed; otherwise only the
PEM structure (armour and base64 body) is checked and key/certificate matching is skipped."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

# Without cryptography the names below stay unbound; every use is behind HAVE_CRYPTOGRAPHY.
try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_CRYPTOGRAPHY = False

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
CERT_TAG = "-----BEGIN CERTIFICATE-----"
_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]*?)\s*-----END \1-----")


def _blocks(text: str) -> list[tuple[str, bytes]]:
    out = []
    for label, body in _BLOCK.findall(text):
        try:
            out.append((label, base64.b64decode("".join(body.split()), validate=True)))
        except (binascii.Error, ValueError):
            continue
    return out


def load_certificate(text: str) -> tuple[Any, str | None]:
    """Returns (certificate object or DER bytes, error)."""
    if HAVE_CRYPTOGRAPHY:
        try:
            return x509.load_pem_x509_certificate(text.encode()), None
        except (ValueError, TypeError) as e:
            return None, f"invalid certificate: {e}"
    for label, der in _blocks(text):
        if label == "CERTIFICATE" and der:
            return der, None
    return None, "invalid certificate: no PEM CERTIFICATE block found"


def load_key(text: str) -> tuple[Any, str | None]:
    if HAVE_CRYPTOGRAPHY:
        try:
            return serialization.load_pem_private_key(text.encode(), password=None), None
        except Exception as e:  # malformed and unsupported keys raise several error types
            return None, f"invalid key: {e}"
    for label, der in _blocks(text):
        if label.endswith("PRIVATE KEY") and der:
            return der, None
    return None, "invalid key: no PEM PRIVATE KEY block found"


def _public_pem(obj: PublicKeyTypes) -> bytes:
    return obj.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_matches_key(cert_text: str, key_text: str) -> bool | None:
    """True/False when it can tell, None without `cryptography`."""
    if not HAVE_CRYPTOGRAPHY:
        return None
    cert, _ = load_certificate(cert_text)
    key, _ = load_key(key_text)
    if cert is None or key is None:
        return None
    return _public_pem(cert.public_key()) == _public_pem(key.public_key())


def same_key_type(cert_a: str, cert_b: str) -> bool | None:
    if not HAVE_CRYPTOGRAPHY:
        return None
    a, _ = load_certificate(cert_a)
    b, _ = load_certificate(cert_b)
    if a is None or b is None:
        return None
    return type(a.public_key()) is type(b.public_key())


def digest(cert_text: str) -> str | None:
    """sha256 of the DER certificate, hex, as Kong's `cert_digest`."""
    cert, _ = load_certificate(cert_text)
    if cert is None:
        return None
    der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def ca_problem(cert_text: str) -> str | None:
    """Kong's ca_certificates check: one certificate, not expired, a CA."""
    first = cert_text.find(CERT_TAG)
    if first != -1 and cert_text.find(CERT_TAG, first + len(CERT_TAG) + 1) != -1:
        return "please submit only one certificate at a time"
    if not HAVE_CRYPTOGRAPHY:
        return None
    cert, _ = load_certificate(cert_text)
    if cert is None:
        return None
    if cert.not_valid_after_utc < datetime.now(UTC):
        return 'certificate expired, "Not After" time is in the past'
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return 'certificate does not appear to be a CA because it is missing the "CA" basic constraint'
    return None
