"""TLS for the proxy's `ssl` listeners: the default certificate and per-SNI certificates."""

from dataplane.listener_tls.default_cert import ensure_default_certificate
from dataplane.listener_tls.sni import SniCertificates, ServerTLS

__all__ = ["ensure_default_certificate", "SniCertificates", "ServerTLS"]
