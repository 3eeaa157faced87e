"""Client-side TLS contexts for upstream connections, built once per config version.

``tls_verify_depth`` (nginx's ``proxy_ssl_verify_depth``, default ``lua_ssl_verify_depth``) is
enforced after OpenSSL has verified the chain: Python's ``ssl`` module does not expose
``SSL_CTX_set_verify_depth``, but it does expose the chain OpenSSL verified
(``SSLObject._sslobj.get_verified_chain()`` since 3.10, public ``get_verified_chain()`` since
3.13). A context built with verification on makes its connections count the intermediates of that
chain at the end of the handshake and fail the handshake, like OpenSSL's own
``X509_V_ERR_CERT_CHAIN_TOO_LONG``, when there are more than the limit.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import TypeVar

# OpenSSL's verify result for a chain deeper than the configured depth (x509_vfy.h).
X509_V_ERR_CERT_CHAIN_TOO_LONG = 22


def verified_intermediates(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> int | None:
    """How many intermediate CA certificates the chain OpenSSL verified has, or None when there
    is no chain (the handshake is not complete).

    The verified chain runs from the peer's certificate to the trust anchor inclusive; neither
    end counts, as in OpenSSL's depth (a self-signed peer certificate trusted directly is a chain
    of one with no intermediate). Only meaningful with verification on: with ``CERT_NONE``
    OpenSSL still builds a chain, as far as it can, but nothing vouches for it.
    """
    # The C method returns certificate handles without encoding them; the public method (3.13+)
    # wraps the same call and DER-encodes every certificate, so it is only the fallback.
    # (Neither the C object nor the 3.13 method is in the 3.11 stubs, hence getattr and the ignore.)
    native = getattr(getattr(ssl_object, "_sslobj", None), "get_verified_chain", None)
    chain = native() if native is not None else ssl_object.get_verified_chain()  # type: ignore[union-attr]
    if not chain:
        return None
    return max(len(chain) - 2, 0)


def chain_within_depth(ssl_object: ssl.SSLObject | ssl.SSLSocket, depth: int) -> bool:
    """Whether the chain verified during the completed handshake of ``ssl_object`` has at most
    ``depth`` intermediate CA certificates: OpenSSL's ``X509_VERIFY_PARAM_set_depth`` meaning,
    which nginx's ``proxy_ssl_verify_depth`` sets (0: the peer's certificate is signed by the
    trust anchor itself; 1: at most one intermediate between them).

    False when there is no chain: what cannot be counted cannot be shown to be within the limit.
    """
    found = verified_intermediates(ssl_object)
    return found is not None and found <= depth


def chain_too_long(ssl_object: ssl.SSLObject | ssl.SSLSocket, depth: int) -> ssl.SSLCertVerificationError:
    """The error OpenSSL itself would raise for a chain deeper than ``depth``, so callers log and
    answer it like any other certificate verification failure."""
    found = verified_intermediates(ssl_object)
    detail = "no chain" if found is None else f"{found} intermediate CA certificates"
    reason = "certificate chain too long"
    err = ssl.SSLCertVerificationError(
        ssl.SSL_ERROR_SSL,
        f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason} ({detail}, verify depth {depth})",
    )
    err.library = "SSL"
    err.reason = "CERTIFICATE_VERIFY_FAILED"
    err.verify_code = X509_V_ERR_CERT_CHAIN_TOO_LONG
    err.verify_message = reason
    return err


class _DepthCheckedObject(ssl.SSLObject):
    """The TLS state of one upstream connection whose verified chain is held to its context's
    depth once the handshake completes.

    asyncio and uvloop drive the handshake through ``do_handshake`` and treat an ``SSLError``
    from it as a failed handshake: ``create_connection`` raises it, and the connection never
    reaches the caller (nor its pool).
    """

    def do_handshake(self) -> None:
        super().do_handshake()  # raises SSLWantReadError until the handshake is done
        context = self.context
        assert isinstance(context, DepthCheckedContext)  # the only context that makes these objects
        depth = context.verify_depth
        if not chain_within_depth(self, depth):
            raise chain_too_long(self, depth)


class DepthCheckedContext(ssl.SSLContext):
    """A client context whose connections (``wrap_bio``) enforce ``verify_depth``."""

    sslobject_class = _DepthCheckedObject
    verify_depth: int


def client_context(
    verify: bool, ca_pems: Iterable[str] = (), trusted: Iterable[str] = ("system",), *, verify_depth: int
) -> ssl.SSLContext:
    """A context for one (verify, CA set, depth) combination.

    ``ca_pems``: the service's CA certificates (PEM text); when empty, ``trusted`` is used:
    Kong's ``lua_ssl_trusted_certificate`` entries ("system", a file path, or PEM text).
    ``verify_depth``: the most intermediate CA certificates accepted when ``verify`` is on.
    """
    if not verify:
        # nginx's proxy_ssl_verify off: encrypt, do not authenticate (so no depth either)
        context = _base_context(ssl.SSLContext)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    checked = _base_context(DepthCheckedContext)
    checked.verify_depth = verify_depth
    # The depth is checked once, after the first handshake, so a TLS 1.2 renegotiation (which
    # could bring another chain past the check) is refused. nginx allows it because OpenSSL
    # applies its depth to every handshake; TLS 1.3 has no renegotiation at all.
    checked.options |= ssl.OP_NO_RENEGOTIATION
    pems = [pem for pem in ca_pems if pem]
    if pems:
        checked.load_verify_locations(cadata="\n".join(pems))
    else:
        for entry in trusted:
            if entry == "system":
                checked.load_default_certs(ssl.Purpose.SERVER_AUTH)
            elif "-----BEGIN" in entry:
                checked.load_verify_locations(cadata=entry)
            else:
                checked.load_verify_locations(cafile=entry)
    return checked


_Context = TypeVar("_Context", bound=ssl.SSLContext)


def _base_context(kind: type[_Context]) -> _Context:
    context = kind(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # lua_ssl_protocols default
    context.set_alpn_protocols(["http/1.1"])
    return context
