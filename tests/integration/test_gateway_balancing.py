"""Load balancing through the real `dataplane run` (2 workers, each balancing on its own): target
weights, weight 0, weights changed by SIGHUP, and services/targets named by host name."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.fake_dns import FakeDNS
from tests.support.raw_client import raw_request

pytestmark = pytest.mark.timeout(90)


def config(one: int, two: int, weights: tuple[int, int] = (100, 50), host: str = "127.0.0.1") -> str:
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: pool
        targets:
          - {{target: "{host}:{one}", weight: {weights[0]}}}
          - {{target: "{host}:{two}", weight: {weights[1]}}}
    services:
      - name: balanced
        host: pool
        routes:
          - {{name: balanced, paths: ["/"], strip_path: false}}
    """


def spread(gw, count: int = 300) -> Counter:
    """Which upstream answered, over `count` requests on fresh connections (both workers serve)."""
    seen: Counter = Counter()
    for i in range(count):
        response = raw_request(gw.port, f"GET /anything?i={i} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        assert response.status == 200, bytes(response.body)
        seen[response.json()["upstream"]] += 1
    return seen


def test_weights_split_traffic_and_sighup_changes_them(gateway_factory, upstream, upstream2):
    gw = gateway_factory(config(upstream.port, upstream2.port))
    seen = spread(gw)
    # 100:50 is exactly 2:1 per worker over every 3 picks; each worker's share of the 300
    # connections is not a multiple of 3, hence the tolerance
    assert abs(seen["one"] - 200) <= 6 and seen["one"] + seen["two"] == 300, seen

    gw.reload(config(upstream.port, upstream2.port, weights=(100, 0)))
    gw.wait_version(2)
    assert spread(gw, 60) == Counter({"one": 60})  # weight 0: out of the rotation

    gw.reload(config(upstream.port, upstream2.port, weights=(50, 100)))
    gw.wait_version(3)
    seen = spread(gw)
    assert abs(seen["two"] - 200) <= 6, seen


def test_services_and_targets_named_by_host_name(gateway_factory, upstream, upstream2, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 echo-two.internal\n")
    server = FakeDNS({"echo-dns.test": "127.0.0.1"})
    yml = f"""
    _format_version: "3.0"
    upstreams:
      - name: named-pool
        targets:
          - {{target: "localhost:{upstream.port}"}}
          - {{target: "echo-two.internal:{upstream2.port}"}}
    services:
      - name: by-name
        url: http://localhost:{upstream.port}
        routes:
          - {{name: by-name, paths: ["/local"]}}
      - name: by-hosts-file
        url: http://echo-two.internal:{upstream2.port}
        routes:
          - {{name: by-hosts-file, paths: ["/two"]}}
      - name: by-dns
        url: http://echo-dns.test:{upstream2.port}
        routes:
          - {{name: by-dns, paths: ["/dns"]}}
      - name: named-targets
        host: named-pool
        routes:
          - {{name: named-targets, paths: ["/pool"]}}
      - name: unknown
        url: http://no-such-host.test:{upstream.port}
        retries: 0
        routes:
          - {{name: unknown, paths: ["/unknown"]}}
    """
    try:
        gw = gateway_factory(yml, conf={"dns_hostsfile": str(hosts), "dns_resolver": f"127.0.0.1:{server.port}"})
        for _ in range(4):
            response = raw_request(gw.port, b"GET /local/anything HTTP/1.1\r\nHost: a\r\n\r\n")
            assert response.status == 200 and response.json()["upstream"] == "one"
            # the service's host name goes upstream, not its address
            assert response.echoed_headers()["host"] == [f"localhost:{upstream.port}"]
            response = raw_request(gw.port, b"GET /two/anything HTTP/1.1\r\nHost: a\r\n\r\n")
            assert response.status == 200 and response.json()["upstream"] == "two"
            assert response.echoed_headers()["host"] == [f"echo-two.internal:{upstream2.port}"]
            response = raw_request(gw.port, b"GET /dns/anything HTTP/1.1\r\nHost: a\r\n\r\n")
            assert response.status == 200 and response.json()["upstream"] == "two"
        # cached per worker: at most one A query per worker (names in the hosts file never asked)
        asked = [q for q in server.queries if q.startswith("echo-dns.test. A")]
        assert 1 <= len(asked) <= 2, server.queries
        assert not [q for q in server.queries if "localhost" in q or "internal" in q], server.queries
        seen = Counter()
        for _ in range(12):
            response = raw_request(gw.port, b"GET /pool/anything HTTP/1.1\r\nHost: a\r\n\r\n")
            assert response.status == 200
            seen[response.json()["upstream"]] += 1
        assert set(seen) == {"one", "two"}, seen
        # NXDOMAIN: Kong's 503 "name resolution failed"
        response = raw_request(gw.port, b"GET /unknown/x HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n")
        assert response.status == 503
        assert response.json()["message"] == "name resolution failed"
    finally:
        server.close()
