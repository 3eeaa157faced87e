"""The shared cluster certificate, as `kong hybrid gen_cert` writes it: a self-signed EC P-384
certificate with CN `kong_clustering`, valid three years, and its key (mode 0600)."""

from __future__ import annotations

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

COMMON_NAME = "kong_clustering"
DEFAULT_DAYS = 3 * 365
CERT_FILENAME = "cluster.crt"
KEY_FILENAME = "cluster.key"


class FileExists(Exception):
    pass


def generate(cert_path: str, key_path: str, days: int = DEFAULT_DAYS) -> None:
    """Write the pair; raises FileExists (and writes nothing) when either file exists."""
    for path in (cert_path, key_path):
        if os.path.lexists(path):
            raise FileExists(f"{path} already exists.\nWill not overwrite it.")
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    # The key is created 0600 from the start, never readable by others even for an instant.
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write(path: str, data: bytes, mode: int) -> None:
    # Created with its final mode (the key is never readable by others, even for an
    # instant), then set exactly as Kong's chmod does whatever the umask.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data)
