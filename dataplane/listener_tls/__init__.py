"""TLS for the proxy's `ssl` listeners: the default certificate and per-SNI certificates."""

from dataplane.listener_tls.default_cert import ensure_default_certificate
from dataplane.listener_tls.policy import TlsPolicy, report_http2, report_status_listen
from dataplane.listener_tls.sni import ServerTLS, SniCertificates

__all__ = [
    "ServerTLS",
    "SniCertificates",
    "TlsPolicy",
    "ensure_default_certificate",
    "report_http2",
    "report_status_listen",
]
