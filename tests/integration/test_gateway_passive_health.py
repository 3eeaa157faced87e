"""Passive health checks through the real `dataplane run` with 2 workers: failures counted for
the whole node (a target marked down by one worker gets nothing from the other), TCP failures
on retried tries, a hanging target's timeout, the status API's HEALTHY/UNHEALTHY, Kong's 503
once the healthy weight is not above healthchecks.threshold, and health kept across a SIGHUP
that keeps the target and its health check settings."""

from __future__ import annotations

import socket
from collections import Counter

import pytest

from tests.support.raw_client import raw_request
from tests.support.scripted_upstream import ScriptedUpstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def failing():
    """Answers every request with a 500."""
    server = ScriptedUpstream("bad", status=500)
    yield server
    server.close()


def config(
    good: int,
    bad: int,
    passive: str,
    threshold: int = 0,
    algorithm: str = "round-robin",
    extra: str = "",
    timeout: int = 60000,
):
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: pool
        algorithm: {algorithm}
        healthchecks:
          threshold: {threshold}
          passive: {{unhealthy: {passive}}}
        targets:
          - {{target: "127.0.0.1:{good}"}}
          - {{target: "127.0.0.1:{bad}"}}
    services:
      - name: balanced
        host: pool
        read_timeout: {timeout}
        routes:
          - {{name: balanced, paths: ["/"]}}
{extra}
    """


def upstream_of(port: int) -> tuple[int, str]:
    response = raw_request(port, b"GET /anything HTTP/1.1\r\nHost: a\r\n\r\n")
    body = response.json()
    return response.status, body.get("upstream", body.get("message"))


def health_by_port(gw) -> dict[int, str]:
    status, body = gw.status("/upstreams/pool/health")
    assert status == 200
    return {t["data"]["port"]: t["health"] for t in body["data"]}


def test_http_failures_are_counted_for_the_whole_node(gateway_factory, upstream, failing):
    bad = failing.port
    gw = gateway_factory(config(upstream.port, bad, "{http_failures: 2}"))
    assert health_by_port(gw) == {upstream.port: "HEALTHY", bad: "HEALTHY"}
    seen = Counter(upstream_of(gw.port) for _ in range(30))
    # whichever workers sent them, the second 500 took the target out: never a third
    assert failing.requests == 2, failing.requests
    assert seen == Counter({(200, "one"): 28, (500, "bad"): 2}), seen
    assert health_by_port(gw) == {upstream.port: "HEALTHY", bad: "UNHEALTHY"}
    _status, body = gw.status("/upstreams/pool/health?balancer_health=1")
    data = body["data"]
    assert (data["health"], data["balancer_health"]) == ("HEALTHY", "HEALTHY")
    assert data["details"]["weight"] == {"total": 200, "unavailable": 100, "available": 100}
    bad_host = next(h for h in data["details"]["hosts"] if h["port"] == bad)
    assert bad_host["addresses"] == [{"ip": "127.0.0.1", "port": bad, "weight": 100, "health": "UNHEALTHY"}]

    # a reload keeping the target and its health check settings keeps its health
    extra = """      - name: other
        url: http://127.0.0.1:9
        routes:
          - {name: other, paths: ["/other"]}"""
    gw.reload(config(upstream.port, bad, "{http_failures: 2}", extra=extra))
    gw.wait_version(2)
    assert health_by_port(gw) == {upstream.port: "HEALTHY", bad: "UNHEALTHY"}
    assert {upstream_of(gw.port) for _ in range(10)} == {(200, "one")}
    assert failing.requests == 2
    # new settings: health starts afresh
    gw.reload(config(upstream.port, bad, "{http_failures: 3}"))
    gw.wait_version(3)
    assert health_by_port(gw) == {upstream.port: "HEALTHY", bad: "HEALTHY"}


def test_the_threshold_gives_kongs_503_once_too_little_weight_is_healthy(gateway_factory, upstream, failing):
    bad = failing.port
    gw = gateway_factory(config(upstream.port, bad, "{http_failures: 1}", threshold=50, algorithm="least-connections"))
    answers = [upstream_of(gw.port) for _ in range(6)]
    assert failing.requests == 1
    # until the 500, both served; after it half the weight is healthy, and 50 is not above 50
    first_bad = answers.index((500, "bad"))
    assert all(a == (200, "one") for a in answers[:first_bad])
    assert all(a == (503, "failure to get a peer from the ring-balancer") for a in answers[first_bad + 1 :]), answers
    _status, body = gw.status("/upstreams/pool/health?balancer_health=1")
    assert (body["data"]["health"], body["data"]["details"]["healthy"]) == ("UNHEALTHY", False)


def test_connection_failures_of_retried_tries_take_a_target_out(gateway_factory, upstream):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    gw = gateway_factory(config(upstream.port, dead_port, "{tcp_failures: 1}"))
    # every request is answered: a try on the dead target is retried on the other
    assert {upstream_of(gw.port) for _ in range(12)} == {(200, "one")}
    assert health_by_port(gw) == {upstream.port: "HEALTHY", dead_port: "UNHEALTHY"}


def test_a_hanging_target_is_taken_out_by_its_timeout(gateway_factory, upstream):
    hanging = ScriptedUpstream("hanging", delay=3.0)
    try:
        gw = gateway_factory(config(upstream.port, hanging.port, "{timeouts: 1}", timeout=300))
        answers = [raw_request(gw.port, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").status for _ in range(8)]
        # the one request that went to it timed out (Kong's 504); none went after
        assert answers.count(504) == 1 and answers.count(200) == 7, answers
        assert hanging.requests == 1
        assert health_by_port(gw) == {upstream.port: "HEALTHY", hanging.port: "UNHEALTHY"}
    finally:
        hanging.close()
