"""Active health checks through the real `dataplane run` with 2 workers: one probe thread for
the node (a target is probed once per interval, not once per worker), a target answering 500
to its probes taken out within the intervals and put back when it answers 200 again, traffic
following, and https probes refused as not run."""

from __future__ import annotations

import time

import pytest

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


def test_https_probes_are_refused(gateway_factory, upstream, switchable, tmp_path):
    port = switchable.port
    gw = gateway_factory(config(upstream.port, port, ACTIVE), name="ok")
    gw.reload(config(upstream.port, port, "{type: https, healthy: {interval: 1}}"))
    wait_for(lambda: "healthchecks.active.type: https" in gw.error_log() + gw.stderr(), 10,
             message="the reload refused")
    assert gw.status()[1]["configuration_version"] == 1
