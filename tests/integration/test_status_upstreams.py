"""The data plane's read-only upstream endpoints on status_listen, through a real `dataplane run`
with 2 workers: Kong's shapes for /upstreams/{u}/targets, /targets/all, /targets/{t} and
/upstreams/{u}/health (with ?balancer_health=1), HEALTHCHECKS_OFF addresses, DNS_ERROR for a
name that does not resolve, paging, 404s, and a reload seen by the next request."""

from __future__ import annotations

import pytest

from tests.support.fake_dns import FakeDNS

pytestmark = pytest.mark.timeout(90)

TARGET_KEYS = {"id", "created_at", "updated_at", "upstream", "target", "weight", "tags"}


def config(one: int, two: int, extra: str = "") -> str:
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: pool
        healthchecks: {{threshold: 25}}
        targets:
          - {{target: "127.0.0.1:{one}", weight: 100}}
          - {{target: "127.0.0.1:{two}", weight: 0}}
          - {{target: "localhost:{two}", weight: 30}}
          - {{target: "no-such-name.invalid:80", weight: 10}}
{extra}
      - name: empty
    services:
      - name: balanced
        host: pool
        routes:
          - {{name: balanced, paths: ["/"]}}
    """


@pytest.fixture
def gw(gateway_factory, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    server = FakeDNS({})  # NXDOMAIN for every name
    conf = {"dns_resolver": f"127.0.0.1:{server.port}", "dns_hostsfile": str(hosts)}
    yield gateway_factory(config(8001, 8002), conf=conf)
    server.close()


def test_targets_and_targets_all(gw):
    status, everything = gw.status("/upstreams/pool/targets/all")
    assert status == 200 and everything["next"] is None and "offset" not in everything
    assert len(everything["data"]) == 4
    assert all(set(t) == TARGET_KEYS for t in everything["data"])
    upstream_id = everything["data"][0]["upstream"]["id"]
    status, in_use = gw.status("/upstreams/pool/targets/")
    assert status == 200
    # the targets in use, newest first, weight 0 included
    assert [t["id"] for t in in_use["data"]] == [t["id"] for t in reversed(everything["data"])]
    assert in_use == gw.status(f"/upstreams/{upstream_id}/targets")[1]  # by id as by name
    assert {t["target"]: t["weight"] for t in in_use["data"]} == {
        "127.0.0.1:8001": 100, "127.0.0.1:8002": 0, "localhost:8002": 30, "no-such-name.invalid:80": 10}

    status, page = gw.status("/upstreams/pool/targets?size=3")
    assert status == 200 and len(page["data"]) == 3
    assert (page["offset"], page["next"]) == ("3", "/upstreams/pool/targets?offset=3")
    status, rest = gw.status("/upstreams/pool/targets?size=3&offset=3")
    assert [t["id"] for t in page["data"] + rest["data"]] == [t["id"] for t in in_use["data"]]
    assert rest["next"] is None

    one = next(t for t in in_use["data"] if t["target"] == "127.0.0.1:8001")
    assert gw.status("/upstreams/pool/targets/127.0.0.1:8001") == (200, one)
    assert gw.status(f"/upstreams/pool/targets/{one['id']}") == (200, one)
    assert gw.status("/upstreams/pool/targets/127.0.0.1:9") == (404, {"message": "Not found"})
    assert gw.status("/upstreams/nope/targets") == (404, {"message": "Not found"})
    assert gw.status("/upstreams/empty/targets") == (200, {"data": [], "next": None})
    assert gw.status("/upstreams/pool/targets?size=x") == (
        400, {"code": 9, "name": "invalid size", "message": "size must be a number"})


def test_health_with_kongs_shapes(gw):
    node_id = (gw.prefix / "node.id").read_text().strip()
    status, body = gw.status("/upstreams/pool/health/")
    assert status == 200 and body["node_id"] == node_id and body["next"] is None
    by_target = {t["target"]: t for t in body["data"]}
    assert list(by_target) == [t["target"] for t in gw.status("/upstreams/pool/targets")[1]["data"]]
    one = by_target["127.0.0.1:8001"]
    assert set(one) == TARGET_KEYS | {"health", "data"}
    assert one["health"] == "HEALTHCHECKS_OFF"
    assert one["data"] == {
        "host": "127.0.0.1",
        "port": 8001,
        "dns": "A",
        "nodeWeight": 100,
        "weight": {"total": 100, "unavailable": 0, "available": 100},
        "addresses": [{"ip": "127.0.0.1", "port": 8001, "weight": 100, "health": "HEALTHCHECKS_OFF"}],
    }
    zero = by_target["127.0.0.1:8002"]
    assert zero["health"] == "HEALTHCHECKS_OFF"
    assert zero["data"]["addresses"] == [{"ip": "127.0.0.1", "port": 8002, "weight": 0, "health": "HEALTHCHECKS_OFF"}]
    named = by_target["localhost:8002"]
    assert named["health"] == "HEALTHCHECKS_OFF"
    assert named["data"]["addresses"] == [{"ip": "127.0.0.1", "port": 8002, "weight": 30, "health": "HEALTHCHECKS_OFF"}]
    bad = by_target["no-such-name.invalid:80"]
    assert bad["health"] == "DNS_ERROR" and bad["data"]["addresses"] == []
    assert bad["data"]["weight"] == {"total": 0, "unavailable": 0, "available": 0}

    status, body = gw.status("/upstreams/pool/health?balancer_health=1")
    assert status == 200 and set(body) == {"data", "next", "node_id"} and body["next"] is None
    data = body["data"]
    assert (data["health"], data["balancer_health"]) == ("HEALTHCHECKS_OFF", "HEALTHY")
    assert data["id"] == one["upstream"]["id"]
    details = data["details"]
    assert details["healthy"] is True
    assert details["weight"] == {"total": 130, "unavailable": 0, "available": 130}
    assert [h["host"] for h in details["hosts"]] == [t["target"].rsplit(":", 1)[0] for t in by_target.values()]

    # an upstream without weight is unhealthy, as Kong's balancer
    status, body = gw.status("/upstreams/empty/health?balancer_health=1")
    assert body["data"]["balancer_health"] == "UNHEALTHY" and body["data"]["details"]["healthy"] is False
    assert gw.status("/upstreams/nope/health") == (404, {"message": "Not found"})


def test_a_reload_is_seen_by_the_next_request(gw):
    extra = '          - {target: "127.0.0.1:8003", weight: 5}'
    gw.reload(config(8001, 8002, extra))
    gw.wait_version(2)
    status, body = gw.status("/upstreams/pool/targets")
    assert status == 200 and "127.0.0.1:8003" in {t["target"] for t in body["data"]}
