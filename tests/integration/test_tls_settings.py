"""Kong's TLS settings on the proxy's `ssl` listeners, in real handshakes: ssl_cipher_suite,
ssl_protocols, ssl_ciphers (with ssl_cipher_suite = custom, Kong's rule), what is ignored said
at notice level, and a value that cannot be served refusing the start."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest
import trustme

from tests.support.paths import DATAPLANE, ROOT
from tests.support.ports import free_port
from tests.support.processes import Gateway
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


def indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


def yml(upstream_port: int, cert: trustme.LeafCert) -> str:
    return f"""
    _format_version: "3.0"
    certificates:
      - cert: |
{indent(cert.cert_chain_pems[0].bytes().decode(), 10)}
        key: |
{indent(cert.private_key_pem.bytes().decode(), 10)}
        snis:
          - name: secure.test
    services:
      - name: s
        url: http://127.0.0.1:{upstream_port}
        routes:
          - name: r
            paths: [/]
    """


def client(maximum: ssl.TLSVersion | None = None, ciphers: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        context.maximum_version = maximum
    if ciphers is not None:
        context.set_ciphers(ciphers)
    return context


def handshake(port: int, context: ssl.SSLContext, server_name: str = "other.test") -> str:
    """The protocol version agreed, after one request answered."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
        return sock.version() or ""


@pytest.fixture
def ca():
    return trustme.CA()


def start(gateway_factory, upstream, ca, **conf: str) -> tuple[Gateway, int]:
    port = free_port()
    settings = {
        "proxy_listen": f"127.0.0.1:{free_port()}, 127.0.0.1:{port} ssl http2",
        "admin_listen": "off",
        "log_level": "notice",
        **conf,
    }
    gw = gateway_factory(yml(upstream.port, ca.issue_cert("secure.test")), workers=1, conf=settings)
    return gw, port


def test_custom_protocols_refuse_an_excluded_version(gateway_factory, upstream, ca):
    gw, port = start(gateway_factory, upstream, ca, ssl_cipher_suite="custom", ssl_protocols="TLSv1.3")
    assert handshake(port, client()) == "TLSv1.3"
    assert handshake(port, client(), "secure.test") == "TLSv1.3"  # a certificate chosen by SNI too
    for name in ("other.test", "secure.test"):
        with pytest.raises(ssl.SSLError):
            handshake(port, client(maximum=ssl.TLSVersion.TLSv1_2), name)
    log = gw.error_log()
    assert "the http2 flag is ignored, HTTP/2 is not served" in log
    assert "ssl_protocols is ignored" not in log


def test_the_modern_suite_is_tls13_only(gateway_factory, upstream, ca):
    _, port = start(gateway_factory, upstream, ca, ssl_cipher_suite="modern")
    assert handshake(port, client()) == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        handshake(port, client(maximum=ssl.TLSVersion.TLSv1_2))


def test_custom_ciphers_refuse_others(gateway_factory, upstream, ca):
    _, port = start(
        gateway_factory,
        upstream,
        ca,
        ssl_cipher_suite="custom",
        ssl_protocols="TLSv1.2",
        ssl_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256",
    )
    assert handshake(port, client(ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")) == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        handshake(port, client(ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"))
    with pytest.raises(ssl.SSLError):  # TLSv1.3 is not in ssl_protocols
        handshake(port, _tls13_only())


def _tls13_only() -> ssl.SSLContext:
    context = client()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def test_custom_only_keys_beside_a_named_suite_are_said_to_be_ignored(gateway_factory, upstream, ca):
    gw, port = start(gateway_factory, upstream, ca, ssl_protocols="TLSv1.3")
    # Kong's rule: the default intermediate suite decides, TLSv1.2 still served...
    assert handshake(port, client(maximum=ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"
    # ...and the node says so rather than accepting the setting silently
    assert "ssl_protocols is ignored: ssl_cipher_suite = intermediate" in gw.error_log()


def test_a_protocol_that_cannot_be_served_refuses_the_start(tmp_path, upstream, ca):
    gw = Gateway(
        tmp_path,
        yml(upstream.port, ca.issue_cert("secure.test")),
        workers=1,
        conf={
            "proxy_listen": f"127.0.0.1:{free_port()} ssl",
            "admin_listen": "off",
            "ssl_cipher_suite": "custom",
            "ssl_protocols": "SSLv3",
        },
    )
    started = subprocess.run(
        [str(DATAPLANE), "start", "-c", str(gw.conf_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 1
    assert started.stderr.startswith("Error: ")
    assert "ssl_protocols: SSLv3: not a protocol served" in started.stderr
    gw.conf_path.write_text(gw.conf_path.read_text().replace("ssl_cipher_suite = custom", "ssl_cipher_suite = strong"))
    started = subprocess.run(
        [str(DATAPLANE), "start", "-c", str(gw.conf_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 1
    assert "ssl_cipher_suite: invalid value 'strong'" in started.stderr


def test_what_status_listen_does_not_serve_is_said(gateway_factory, upstream, ca):
    first, second = free_port(), free_port()
    gw = gateway_factory(
        yml(upstream.port, ca.issue_cert("secure.test")),
        workers=1,
        conf={"status_listen": f"127.0.0.1:{first} ssl, 127.0.0.1:{second}", "admin_listen": "off"},
        wait=False,
    )
    wait_for(lambda: "gantry stopped" in gw.error_log() or " started: 1 workers" in gw.error_log(), timeout=30)
    log = gw.error_log()
    assert f"status_listen 127.0.0.1:{first} ssl: ssl is not served" in log
    assert f"status_listen: only the first entry (127.0.0.1:{first} ssl) is served; ignored: 127.0.0.1:{second}" in log
