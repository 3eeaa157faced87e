"""tls_verify_depth through the real `dataplane run`: TLS upstreams whose chains have 0, 1 and 2
intermediate CAs under one trusted root, services verifying them to depths 0, 1 and 2 (and to
lua_ssl_verify_depth when they set none). A chain deeper than the depth is a failed handshake:
logged with the upstream and the reason, then 502 like any other certificate verification
failure, and a connection pooled for a deeper-allowing service never serves a shallower one."""

from __future__ import annotations

import textwrap

import pytest
import trustme

from tests.support.echo_upstream import Upstream
from tests.support.http_messages import get
from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)

CA_ID = "4b0d5e3c-8a35-4c1d-9d7e-2f6a1c0b9e11"
CHAINS = (0, 1, 2)  # intermediate CAs between each upstream's certificate and the root
DEPTHS = (0, 1, 2)


@pytest.fixture(scope="module")
def root() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def upstreams(root, tmp_path_factory):
    """One TLS echo upstream per chain length, keyed by its number of intermediates."""
    directory = tmp_path_factory.mktemp("upstream-certs")
    started = {}
    try:
        for count in CHAINS:
            issuer = root
            for _ in range(count):
                issuer = issuer.create_child_ca()
            leaf = issuer.issue_cert("127.0.0.1")
            cert, key = directory / f"chain{count}.pem", directory / f"chain{count}.key"
            cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
            leaf.private_key_pem.write_to_path(str(key))
            started[count] = Upstream(f"chain{count}", tls=(str(cert), str(key)))
        yield started
    finally:
        for upstream in started.values():
            upstream.stop()


def config(root: trustme.CA, ports: dict[int, int]) -> str:
    services = []
    for count, port in ports.items():
        base = f"url: https://127.0.0.1:{port}\n  tls_verify: true\n  ca_certificates: [{CA_ID}]"
        for depth in DEPTHS:
            services.append(f"- name: c{count}-d{depth}\n  {base}\n  tls_verify_depth: {depth}\n  retries: 0\n"
                            f"  routes: [{{name: c{count}-d{depth}, paths: [/c{count}/d{depth}]}}]")
        # no tls_verify_depth: lua_ssl_verify_depth (1); Kong's default retries
        services.append(f"- name: c{count}-default\n  {base}\n"
                        f"  routes: [{{name: c{count}-default, paths: [/c{count}/default]}}]")
        services.append(f"- name: c{count}-noverify\n  url: https://127.0.0.1:{port}\n  tls_verify: false\n"
                        f"  tls_verify_depth: 0\n"
                        f"  routes: [{{name: c{count}-noverify, paths: [/c{count}/noverify]}}]")
    return (
        '_format_version: "3.0"\n'
        "ca_certificates:\n"
        f"  - id: {CA_ID}\n"
        "    cert: |\n" + textwrap.indent(root.cert_pem.bytes().decode(), "      ")
        + "services:\n" + textwrap.indent("\n".join(services), "  ") + "\n"
    )


@pytest.fixture(scope="module")
def gw(module_gateway_factory, root, upstreams):
    # One worker: every request sees the same upstream connection pool.
    yml = config(root, {count: upstream.port for count, upstream in upstreams.items()})
    return module_gateway_factory(yml, name="tlsdepth", workers=1)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("count", CHAINS)
def test_chain_within_depth_is_proxied_deeper_is_502(gw, upstreams, count, depth):
    response = raw_request(gw.port, get(f"/c{count}/d{depth}/anything"))
    if count <= depth:
        assert response.status == 200
        assert response.json()["upstream"] == f"chain{count}"
        return
    assert response.status == 502
    assert bytes(response.body).startswith(b"An invalid response was received from the upstream server\n")
    wanted = (f"upstream 127.0.0.1:{upstreams[count].port} connect failed (try 1): "
              "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate chain too long "
              f"({count} intermediate CA certificates, verify depth {depth})")
    wait_for(lambda: wanted in gw.error_log(), message=f"log line {wanted!r}")


@pytest.mark.parametrize("count", CHAINS)
def test_lua_ssl_verify_depth_applies_when_the_service_sets_none(gw, count):
    response = raw_request(gw.port, get(f"/c{count}/default/anything"))
    assert response.status == (200 if count <= 1 else 502)


@pytest.mark.parametrize("count", CHAINS)
def test_verify_off_ignores_depth(gw, count):
    assert raw_request(gw.port, get(f"/c{count}/noverify/anything")).status == 200


def test_pooled_connection_is_not_reused_for_a_smaller_depth(gw):
    """The same upstream and trust, depths 2 then 0: the keep-alive connection the first request
    leaves in the pool was verified to depth 2 only."""
    for _ in range(2):
        assert raw_request(gw.port, get("/c1/d2/anything")).status == 200
        assert raw_request(gw.port, get("/c1/d0/anything")).status == 502
