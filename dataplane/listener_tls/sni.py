"""Choosing the server certificate by SNI, from the config's `certificates` and `snis`.

Contexts are built once per config version (`SniCertificates.build`), never per handshake. A
listener's default context carries an `sni_callback` that looks the name up in the current
version's table: exact names first, then a leading wildcard (`*.example.com`), then a trailing
one (`example.*`), as Kong's certificate selection does; otherwise the default certificate.
The name is remembered on the connection's SSL object so the router can match `snis`.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Callable

from dataplane.listener_tls.policy import TlsPolicy

log = logging.getLogger("gantry.tls")

ALPN = ["http/1.1"]

_SNI_ATTRIBUTE = "gantry_sni"


def _context_from_pem(cert_pem: str, key_pem: str, policy: TlsPolicy | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(ALPN)
    if policy is not None:
        policy.apply(context)
    # load_cert_chain only reads files; the PEMs live in memory, so go through a private temp file.
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=True) as handle:
        os.chmod(handle.name, 0o600)
        handle.write(cert_pem.strip() + "\n" + key_pem.strip() + "\n")
        handle.flush()
        context.load_cert_chain(handle.name)
    return context


class SniCertificates:
    """Server name -> SSL context, for one config version."""

    __slots__ = ("exact", "prefix_wildcards", "suffix_wildcards")

    def __init__(self) -> None:
        self.exact: dict[str, ssl.SSLContext] = {}
        self.prefix_wildcards: dict[str, ssl.SSLContext] = {}  # "*.example.com" keyed by ".example.com"
        self.suffix_wildcards: dict[str, ssl.SSLContext] = {}  # "example.*" keyed by "example."

    @classmethod
    def build(cls, certificates: list[dict], snis: list[dict], policy: TlsPolicy | None = None) -> SniCertificates:
        table = cls()
        contexts: dict[str, ssl.SSLContext] = {}
        for cert in certificates:
            try:
                contexts[cert["id"]] = _context_from_pem(cert["cert"], cert["key"], policy)
            except (ssl.SSLError, OSError, KeyError, TypeError) as err:
                log.error("certificate %s cannot be loaded, its SNIs fall back to the default: %s", cert.get("id"), err)
        for sni in snis:
            cert_id = (sni.get("certificate") or {}).get("id")
            context = contexts.get(cert_id) if isinstance(cert_id, str) else None
            if context is None:
                continue
            name = sni["name"].lower()
            if name.startswith("*."):
                table.prefix_wildcards[name[1:]] = context
            elif name.endswith(".*"):
                table.suffix_wildcards[name[:-1]] = context
            else:
                table.exact[name] = context
        return table

    def lookup(self, name: str) -> ssl.SSLContext | None:
        name = name.lower()
        context = self.exact.get(name)
        if context is not None:
            return context
        dot = name.find(".")
        if dot > 0:
            context = self.prefix_wildcards.get(name[dot:])
            if context is not None:
                return context
        last = name.rfind(".")
        if last > 0:
            return self.suffix_wildcards.get(name[: last + 1])
        return None


class ServerTLS:
    """The default context of a worker's `ssl` listeners, switching certificates by SNI."""

    __slots__ = ("context", "current", "policy")

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        current: Callable[[], SniCertificates | None],
        policy: TlsPolicy | None = None,
    ) -> None:
        self.current = current
        self.policy = policy  # ssl_cipher_suite and the rest, on this context and every SNI one
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.set_alpn_protocols(ALPN)
        if policy is not None:
            policy.apply(self.context)
        self.context.load_cert_chain(cert_file, key_file)
        self.context.sni_callback = self._on_sni

    def _on_sni(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _context: ssl.SSLContext
    ) -> None:
        if not server_name:
            return None
        # Read back by the proxy for route `snis` matching; the SSL object takes new attributes.
        setattr(ssl_object, _SNI_ATTRIBUTE, server_name)
        table = self.current()
        chosen = table.lookup(server_name) if table is not None else None
        if chosen is not None:
            ssl_object.context = chosen
        return None


def server_name_of(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The SNI a client sent on this connection, if any."""
    return getattr(ssl_object, _SNI_ATTRIBUTE, None)
