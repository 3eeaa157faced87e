"""`ssl` proxy listeners: the default certificate, certificates chosen by SNI, route `snis`."""

from __future__ import annotations

import socket
import ssl

import pytest
import trustme

from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(60)


def indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


@pytest.fixture
def ca():
    return trustme.CA()


def https_get(port: int, server_name: str, path: str, context: ssl.SSLContext) -> tuple[int, bytes, dict]:
    """One GET over TLS with the given SNI; returns status, raw response and the peer certificate."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return int(data.split(b" ", 2)[1]), data, sock.getpeercert() or {}


def test_sni_selects_configured_certificate_and_routes(gateway_factory, upstream, ca):
    cert = ca.issue_cert("secure.test")
    tls_port = free_port()
    yml = f"""
    _format_version: "3.0"
    certificates:
      - cert: |
{indent(cert.cert_chain_pems[0].bytes().decode(), 10)}
        key: |
{indent(cert.private_key_pem.bytes().decode(), 10)}
        snis:
          - name: secure.test
    services:
      - name: secure
        url: http://127.0.0.1:{upstream.port}
        routes:
          - name: by-sni
            protocols: [https]
            snis: [secure.test]
            paths: [/s]
    """
    gw = gateway_factory(yml, conf={"proxy_listen": f"127.0.0.1:{free_port()}, 127.0.0.1:{tls_port} ssl"})
    verified = ssl.create_default_context()
    ca.configure_trust(verified)
    status, body, peer = https_get(tls_port, "secure.test", "/s/x", verified)
    assert status == 200, body
    assert ("DNS", "secure.test") in peer["subjectAltName"]  # the configured certificate, verified

    # Another name gets the default (self-signed) certificate, and the SNI route does not match.
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    status, body, _ = https_get(tls_port, "other.test", "/s/x", unverified)
    assert status == 404
    with pytest.raises(ssl.SSLError):
        https_get(tls_port, "other.test", "/s/x", verified)


def test_https_only_route_over_http_gets_426(gateway_factory, upstream):
    yml = f"""
    _format_version: "3.0"
    services:
      - name: secure
        url: http://127.0.0.1:{upstream.port}
        routes:
          - name: https-only
            protocols: [https]
            paths: [/only]
    """
    gw = gateway_factory(yml)
    status, _, body = gw.request("GET", "/only/x", headers={"Accept": "application/json"})
    assert status == 426
    assert b"Please use HTTPS protocol" in body
