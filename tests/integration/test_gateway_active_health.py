"""Active health checks through the real `dataplane run` with 2 workers: one probe thread for
the node (a target is probed once per interval, not once per worker), a target answering 500
to its probes taken out within the intervals and put back when it answers 200 again, traffic
following; https probes verifying the target's certificate against lua_ssl_trusted_certificate
(a certificate no trusted CA signed, or a 500, takes the target out; a trusted one and a 200
bring it back) or taking any with https_verify_certificate off; gRPC probes refused as not
run."""

from __future__ import annotations

import ssl
import time

import pytest
import trustme

from tests.support.raw_client import raw_request
from tests.support.scripted_upstream import ScriptedUpstream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def switchable():
    """Answers its probes (/health) with 500 until told otherwise."""
    server = ScriptedUpstream("switchable")
    server.statuses["/health"] = 500
    yield server
    server.close()


def config(good: int, flaky: int, active: str) -> str:
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: pool
        healthchecks:
          active: {active}
        targets:
          - {{target: "127.0.0.1:{good}"}}
          - {{target: "127.0.0.1:{flaky}"}}
    services:
      - name: balanced
        host: pool
        routes:
          - {{name: balanced, paths: ["/"]}}
    """


ACTIVE = ("{http_path: /health, healthy: {interval: 0.2, successes: 1}, "
          "unhealthy: {interval: 0.2, http_failures: 1}}")


def health(gw, port: int) -> str:
    _, body = gw.status("/upstreams/pool/health")
    return next(t["health"] for t in body["data"] if t["data"]["port"] == port)


def served(gw) -> set[str]:
    return {raw_request(gw.port, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").json()["upstream"] for _ in range(12)}


def test_probes_take_a_target_out_and_bring_it_back(gateway_factory, upstream, switchable):
    port = switchable.port
    gw = gateway_factory(config(upstream.port, port, ACTIVE))
    wait_for(lambda: health(gw, port) == "UNHEALTHY", 5, message="the failing target marked down")
    assert health(gw, upstream.port) == "HEALTHY"
    assert served(gw) == {"one"}
    # once per interval for the node: two workers do not double the probes
    start, probes = time.monotonic(), switchable.hits["/health"]
    time.sleep(2.0)
    rate = (switchable.hits["/health"] - probes) / (time.monotonic() - start)
    assert 2.5 <= rate <= 7.5, rate  # 5 per second at interval 0.2
    switchable.statuses["/health"] = 200
    wait_for(lambda: health(gw, port) == "HEALTHY", 5, message="the recovered target back")
    assert served(gw) == {"one", "switchable"}
    _, body = gw.status("/upstreams/pool/health?balancer_health=1")
    assert (body["data"]["health"], body["data"]["balancer_health"]) == ("HEALTHY", "HEALTHY")


def test_grpc_probes_are_refused(gateway_factory, upstream, switchable, tmp_path):
    port = switchable.port
    gw = gateway_factory(config(upstream.port, port, ACTIVE), name="ok")
    gw.reload(config(upstream.port, port, "{type: grpcs, healthy: {interval: 1}}"))
    wait_for(lambda: "healthchecks.active.type: grpcs probes are not run" in gw.error_log() + gw.stderr(), 10,
             message="the reload refused")
    assert gw.status()[1]["configuration_version"] == 1


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def https_config(good: int, flaky: int, active: str) -> str:
    return config(good, flaky, active).replace("host: pool", "host: pool\n        protocol: https")


HTTPS = ("{type: https, http_path: /health, healthy: {interval: 0.2, successes: 1}, "
         "unhealthy: {interval: 0.2, http_failures: 1, tcp_failures: 1}}")


@pytest.fixture
def trusted(tmp_path):
    """A CA the node trusts (lua_ssl_trusted_certificate), and the conf naming it."""
    ca = trustme.CA()
    path = tmp_path / "trusted-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, {"lua_ssl_trusted_certificate": str(path)}


def test_https_probes_verify_the_certificate(gateway_factory, trusted):
    ca, conf = trusted
    good = ScriptedUpstream("good", tls=server_context(ca))
    flaky = ScriptedUpstream("flaky", tls=server_context(trustme.CA()))  # a CA nobody trusts
    try:
        gw = gateway_factory(https_config(good.port, flaky.port, HTTPS), conf=conf)
        wait_for(lambda: health(gw, flaky.port) == "UNHEALTHY", 5, message="the untrusted target marked down")
        assert flaky.hits["/health"] == 0  # the handshake failed: no request went
        wait_for(lambda: good.hits["/health"] >= 3, 5, message="the trusted target probed")
        assert health(gw, good.port) == "HEALTHY"
        assert served(gw) == {"good"}
        # a certificate the node trusts: back at the next probe
        flaky.tls = server_context(ca)
        wait_for(lambda: health(gw, flaky.port) == "HEALTHY", 5, message="the target back with a trusted certificate")
        assert flaky.hits["/health"] >= 1
        assert served(gw) == {"good", "flaky"}
        # over TLS the status counts as over plain HTTP: a 500 out, a 200 back
        flaky.statuses["/health"] = 500
        wait_for(lambda: health(gw, flaky.port) == "UNHEALTHY", 5, message="the 500 target marked down")
        assert served(gw) == {"good"}
        flaky.statuses["/health"] = 200
        wait_for(lambda: health(gw, flaky.port) == "HEALTHY", 5, message="the target back after its 500s")
        assert "failed SSL handshake with '127.0.0.1" in gw.error_log() + gw.stderr()
    finally:
        good.close()
        flaky.close()


def test_https_probes_unverified_take_a_self_signed_certificate(gateway_factory, trusted):
    _, conf = trusted
    self_signed = ScriptedUpstream("self-signed", tls=server_context(trustme.CA()))
    other = ScriptedUpstream("other", tls=server_context(trustme.CA()))
    try:
        active = HTTPS.replace("type: https,", "type: https, https_verify_certificate: false,")
        gw = gateway_factory(https_config(self_signed.port, other.port, active), conf=conf)
        wait_for(lambda: self_signed.hits["/health"] >= 5 and other.hits["/health"] >= 5, 5,
                 message="both targets probed over TLS")
        assert (health(gw, self_signed.port), health(gw, other.port)) == ("HEALTHY", "HEALTHY")
        assert served(gw) == {"self-signed", "other"}
    finally:
        self_signed.close()
        other.close()
