"""Client-side TLS contexts for upstream connections, built once per config version.

Python's ``ssl`` module has no verify-depth setting (OpenSSL's ``SSL_CTX_set_verify_depth`` is
not exposed, and ``get_verified_chain`` needs Python 3.13): ``tls_verify_depth`` is recorded on
the service but not enforced; chains are verified to OpenSSL's default depth.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable


def client_context(verify: bool, ca_pems: Iterable[str] = (), trusted: Iterable[str] = ("system",)) -> ssl.SSLContext:
    """A context for one (verify, CA set) combination.

    ``ca_pems``: the service's CA certificates (PEM text); when empty, ``trusted`` is used:
    Kong's ``lua_ssl_trusted_certificate`` entries ("system", a file path, or PEM text).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # lua_ssl_protocols default
    context.set_alpn_protocols(["http/1.1"])
    if not verify:
        # nginx's proxy_ssl_verify off: encrypt, do not authenticate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    pems = [pem for pem in ca_pems if pem]
    if pems:
        context.load_verify_locations(cadata="\n".join(pems))
    else:
        for entry in trusted:
            if entry == "system":
                context.load_default_certs(ssl.Purpose.SERVER_AUTH)
            elif "-----BEGIN" in entry:
                context.load_verify_locations(cadata=entry)
            else:
                context.load_verify_locations(cafile=entry)
    return context
