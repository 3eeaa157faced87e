"""tls_verify_depth on upstream TLS: the chain OpenSSL verified is counted after the handshake,
with OpenSSL's meaning of depth (intermediate CA certificates between the peer's certificate and
the trust anchor). Real TLS servers on 127.0.0.1 with trustme chains of 0, 1 and 2
intermediates."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
import trustme
import uvloop

from dataplane.proxy import upstream_tls as tls
from tests.support.inprocess_gateway import run

INTERMEDIATES = (0, 1, 2)


@pytest.fixture(scope="module")
def root() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaves(root: trustme.CA) -> dict[int, trustme.LeafCert]:
    """Leaf certificates for 127.0.0.1 issued with 0, 1 and 2 intermediate CAs under `root`."""
    issued = {}
    for count in INTERMEDIATES:
        issuer = root
        for _ in range(count):
            issuer = issuer.create_child_ca()
        issued[count] = issuer.issue_cert("127.0.0.1")
    return issued


@contextlib.asynccontextmanager
async def tls_server(leaf: trustme.LeafCert) -> AsyncIterator[int]:
    """A TLS server that sends `leaf` with its intermediates and then just holds connections."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def connect(port: int, context: ssl.SSLContext) -> asyncio.BaseTransport:
    transport, _ = await asyncio.get_running_loop().create_connection(
        asyncio.Protocol, "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
    return transport


def test_intermediates_counted_as_openssl_depth(root, leaves):
    """Neither the peer's certificate nor the trust anchor counts; the limit is inclusive."""
    async def main():
        for count, leaf in leaves.items():
            plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            root.configure_trust(plain)
            async with tls_server(leaf) as port:
                transport = await connect(port, plain)
                ssl_object = transport.get_extra_info("ssl_object")
                assert tls.verified_intermediates(ssl_object) == count
                for depth in range(4):
                    assert tls.chain_within_depth(ssl_object, depth) is (count <= depth)
                transport.close()
    run(main(), timeout=30)


def test_no_chain_before_the_handshake_is_not_within_depth():
    context = ssl.create_default_context()
    ssl_object = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="127.0.0.1")
    assert tls.verified_intermediates(ssl_object) is None
    assert not tls.chain_within_depth(ssl_object, 64)


def test_public_get_verified_chain_used_when_the_native_method_is_gone():
    # Python 3.13's public method returns DER bytes, leaf to trust anchor.
    ssl_object = SimpleNamespace(_sslobj=object(), get_verified_chain=lambda: [b"leaf", b"ca1", b"ca2", b"root"])
    assert tls.verified_intermediates(ssl_object) == 2
    assert tls.chain_within_depth(ssl_object, 2)
    assert not tls.chain_within_depth(ssl_object, 1)


@pytest.mark.parametrize("loop_factory", [uvloop.new_event_loop, asyncio.new_event_loop], ids=["uvloop", "asyncio"])
def test_client_context_refuses_chains_deeper_than_its_depth(root, leaves, loop_factory):
    """The handshake itself fails, with the error OpenSSL gives for a chain too long, so the
    connection is never handed out."""
    pem = root.cert_pem.bytes().decode()

    async def main():
        for count, leaf in leaves.items():
            async with tls_server(leaf) as port:
                for depth in range(3):
                    context = tls.client_context(True, [pem], verify_depth=depth)
                    if count <= depth:
                        transport = await connect(port, context)
                        transport.close()
                        continue
                    with pytest.raises(ssl.SSLCertVerificationError) as caught:
                        await connect(port, context)
                    err = caught.value
                    assert err.verify_code == tls.X509_V_ERR_CERT_CHAIN_TOO_LONG
                    assert err.reason == "CERTIFICATE_VERIFY_FAILED"
                    assert str(err).startswith("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                               "certificate chain too long")
                    assert f"({count} intermediate CA certificates, verify depth {depth})" in str(err)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(asyncio.wait_for(main(), 30))


def test_depth_is_checked_after_openssl_verification(leaves):
    """An untrusted chain still fails on OpenSSL's own verdict, not on depth."""
    other = trustme.CA().cert_pem.bytes().decode()

    async def main():
        async with tls_server(leaves[0]) as port:
            with pytest.raises(ssl.SSLCertVerificationError) as caught:
                await connect(port, tls.client_context(True, [other], verify_depth=5))
            assert caught.value.verify_code != tls.X509_V_ERR_CERT_CHAIN_TOO_LONG
    run(main(), timeout=30)


def test_verify_off_ignores_depth(leaves):
    async def main():
        async with tls_server(leaves[2]) as port:
            transport = await connect(port, tls.client_context(False, verify_depth=0))
            transport.close()
    run(main(), timeout=30)


def test_verifying_context_disables_renegotiation():
    """The chain is checked once: a renegotiated handshake must not bring another one."""
    context = tls.client_context(True, [trustme.CA().cert_pem.bytes().decode()], verify_depth=1)
    assert context.options & ssl.OP_NO_RENEGOTIATION
