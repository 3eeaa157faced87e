"""The cluster listener's TLS settings from kong.conf: who may connect, and how to tell."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dataplane.conf import Conf


class CertificateError(Exception):
    pass


@dataclass(frozen=True)
class ClusterTls:
    mode: str  # shared | pki
    context: ssl.SSLContext  # server side, client certificate required
    own_digest: bytes  # sha256 of the control plane's certificate (DER)

    def refusal(self, peer_der: bytes) -> str | None:
        """Why a verified client certificate is still refused, or None."""
        if self.mode == "shared" and hashlib.sha256(peer_der).digest() != self.own_digest:
            return (
                "data plane presented incorrect client certificate during handshake "
                "(digest does not match the control plane certificate)"
            )
        return None


def _read_certificate(path: str) -> x509.Certificate:
    try:
        with open(path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"cluster_cert: failed loading certificate from {path}: {exc}") from None


def expiry(der: bytes) -> int:
    """notAfter of a DER certificate, epoch seconds."""
    return int(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())


def load(conf: Conf) -> ClusterTls:
    """Raises CertificateError naming the key when a file cannot be used."""
    if conf.cluster_cert is None or conf.cluster_cert_key is None:
        raise CertificateError("cluster certificate and key must be provided to use Hybrid mode")
    own = _read_certificate(conf.cluster_cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])  # gRPC clients insist on it
    try:
        context.load_cert_chain(conf.cluster_cert, conf.cluster_cert_key)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(
            f"cluster_cert_key: cannot use {conf.cluster_cert_key} with {conf.cluster_cert}: {exc}"
        ) from None
    context.verify_mode = ssl.CERT_REQUIRED
    # shared: the cluster certificate is the only trust root; pki: the cluster CA.
    root = conf.cluster_ca_cert if conf.cluster_mtls == "pki" else conf.cluster_cert
    try:
        context.load_verify_locations(cafile=root)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(f"cluster_ca_cert: failed loading certificate from {root}: {exc}") from None
    return ClusterTls(conf.cluster_mtls, context, hashlib.sha256(own.public_bytes(Encoding.DER)).digest())
