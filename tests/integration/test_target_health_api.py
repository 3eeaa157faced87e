"""Kong's `PUT /upstreams/{u}/targets/{t}/healthy|unhealthy` (and the `.../{address}/...` forms)
with real processes: a DB-less node and a traditional node (2 workers each) set the target's
word in the node's shared health table, so no worker sends it a request until it is set
healthy again; Kong's 404s and 400 (kong/api/routes/upstreams.lua,
spec/02-integration/04-admin_api/08-targets_routes_spec.lua); a traditional node tells the
other nodes of its database, as Kong's cluster event; a hybrid control plane has no such paths
(404, not in /endpoints)."""

from __future__ import annotations

import uuid

import pytest

from tests.support.dbless_admin import DblessAdmin
from tests.support.raw_client import raw_request
from tests.support.scripted_upstream import ScriptedUpstream
from tests.support.traditional import TraditionalNode, pg_settings
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(180)

PATHS = [
    "/upstreams/{upstreams}/targets/{targets}/healthy",
    "/upstreams/{upstreams}/targets/{targets}/unhealthy",
    "/upstreams/{upstreams}/targets/{targets}/{address}/healthy",
    "/upstreams/{upstreams}/targets/{targets}/{address}/unhealthy",
]
PASSIVE = "{passive: {unhealthy: {http_failures: 3}}}"


@pytest.fixture
def pair():
    a, b = ScriptedUpstream("a"), ScriptedUpstream("b")
    yield a, b
    a.close()
    b.close()


def config(a: int, b: int) -> str:
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: pool
        healthchecks: {PASSIVE}
        targets:
          - {{target: "127.0.0.1:{a}"}}
          - {{target: "127.0.0.1:{b}"}}
      - name: plain
        targets:
          - {{target: "127.0.0.1:{a}"}}
      - name: other
        healthchecks: {PASSIVE}
        targets:
          - {{target: "127.0.0.1:9"}}
    services:
      - name: balanced
        host: pool
        routes:
          - {{name: balanced, paths: ["/"]}}
    """


def served(gw) -> set[str]:
    """Who answered 16 requests, each on a connection of its own (so both workers serve)."""
    return {raw_request(gw.port, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").json()["upstream"] for _ in range(16)}


def health(gw, port: int) -> str:
    _, body = gw.status("/upstreams/pool/health")
    return next(t["health"] for t in body["data"] if t["data"]["port"] == port)


def flips_health(node, admin, a: ScriptedUpstream, b: ScriptedUpstream) -> None:
    """What both kinds of node do, `admin` their Admin API client."""
    target = f"127.0.0.1:{a.port}"
    wait_for(lambda: served(node) == {"a", "b"}, 10, message="both targets served")
    assert admin.admin("PUT", f"/upstreams/pool/targets/{target}/unhealthy") == (204, {})
    assert health(node, a.port) == "UNHEALTHY"  # written before the answer
    assert served(node) == {"b"}
    assert admin.admin("PUT", f"/upstreams/pool/targets/{target}/healthy")[0] == 204
    assert health(node, a.port) == "HEALTHY"
    assert served(node) == {"a", "b"}
    # by the target's id, the upstream's id, and the address form
    _, page = admin.admin("GET", "/upstreams/pool/targets")
    by_id = next(t["id"] for t in page["data"] if t["target"] == target)
    _, upstream = admin.admin("GET", "/upstreams/pool")
    assert admin.admin("PUT", f"/upstreams/{upstream['id']}/targets/{by_id}/{target}/unhealthy")[0] == 204
    assert served(node) == {"b"}
    # an address that is not the target's: Kong's 204, nothing changed
    assert admin.admin("PUT", f"/upstreams/pool/targets/{target}/127.0.0.2:{a.port}/healthy")[0] == 204
    assert admin.admin("PUT", f"/upstreams/pool/targets/{target}/127.0.0.1/healthy")[0] == 204  # port 8000
    assert health(node, a.port) == "UNHEALTHY"
    assert admin.admin("PUT", f"/upstreams/pool/targets/{by_id}/127.0.0.1:{a.port}/healthy")[0] == 204
    assert served(node) == {"a", "b"}
    # Kong's answers for what does not exist or does not belong
    other_target = admin.admin("GET", "/upstreams/other/targets")[1]["data"][0]["id"]
    for u in (str(uuid.uuid4()), "invalid", "pool", upstream["id"]):
        for t in (str(uuid.uuid4()), "invalid:1234", other_target, target, by_id):
            expected = 204 if u in ("pool", upstream["id"]) and t in (target, by_id) else 404
            for state in ("healthy", "unhealthy"):
                status, body = admin.admin("PUT", f"/upstreams/{u}/targets/{t}/{state}")
                assert status == expected, (u, t, state, body)
                if expected == 404:
                    assert body == {"message": "Not found"}
    assert admin.admin("PUT", f"/upstreams/pool/targets/{target}/healthy")[0] == 204
    # an upstream without health checks has no healthchecker in Kong
    assert admin.admin("PUT", f"/upstreams/plain/targets/{target}/unhealthy") == (
        400,
        {"message": "no healthchecker found for plain"},
    )
    assert admin.admin("GET", f"/upstreams/pool/targets/{target}/healthy")[0] == 405
    data = admin.admin("GET", "/endpoints")[1]["data"]
    assert all(path in data for path in PATHS), data


def test_a_dbless_node_sets_a_targets_health_for_every_worker(gateway_factory, pair):
    a, b = pair
    admin = DblessAdmin()
    gw = gateway_factory(config(a.port, b.port), conf=admin.conf)
    flips_health(gw, admin, a, b)
    assert "unhealthy forced for 127.0.0.1:" in gw.error_log() + gw.stderr()


def test_a_target_set_unhealthy_comes_back_through_its_active_probes(gateway_factory, pair):
    """The word set by hand is the one the checks count in, as lua-resty-healthcheck's forced
    state is: a target set unhealthy stays out while its probes do not pass, and comes back
    once they do."""
    a, b = pair
    a.statuses["/probe"] = 500  # not counted: active http_failures is 0
    admin = DblessAdmin()
    active = "{active: {http_path: /probe, healthy: {interval: 0.1, successes: 2}, unhealthy: {interval: 0.1}}}"
    gw = gateway_factory(config(a.port, b.port).replace(PASSIVE, active, 1), conf=admin.conf)
    wait_for(lambda: a.hits["/probe"] >= 2, 5, message="probes running")
    assert health(gw, a.port) == "HEALTHY"
    assert admin.admin("PUT", f"/upstreams/pool/targets/127.0.0.1:{a.port}/unhealthy")[0] == 204
    probes = a.hits["/probe"]
    wait_for(lambda: a.hits["/probe"] >= probes + 3, 5, message="probes of the unhealthy target")
    assert served(gw) == {"b"}
    a.statuses["/probe"] = 200
    wait_for(lambda: health(gw, a.port) == "HEALTHY", 5, message="brought back by its probes")
    assert served(gw) == {"a", "b"}


def test_traditional_nodes_set_a_targets_health_each_and_tell_the_others(own_postgres, tmp_path, pair):
    """One node as the DB-less one; and as Kong's `balancer:post_health` cluster event, what is
    set through one node's Admin API is set on the other node of the database too."""
    a, b = pair
    pg = pg_settings(own_postgres, own_postgres.create_database())
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = TraditionalNode(tmp_path / "one", pg), TraditionalNode(tmp_path / "two", pg)
    one.migrations("bootstrap")
    checks = {"passive": {"unhealthy": {"http_failures": 3}}}
    try:
        one.start_admin()
        one.admin_ok("POST", "/upstreams", {"name": "pool", "healthchecks": checks})
        one.admin_ok("POST", "/upstreams", {"name": "plain"})
        one.admin_ok("POST", "/upstreams", {"name": "other", "healthchecks": checks})
        for port in (a.port, b.port):
            one.admin_ok("POST", "/upstreams/pool/targets", {"target": f"127.0.0.1:{port}"})
        one.admin_ok("POST", "/upstreams/plain/targets", {"target": f"127.0.0.1:{a.port}"})
        one.admin_ok("POST", "/upstreams/other/targets", {"target": "127.0.0.1:9"})
        one.admin_ok("POST", "/services", {"name": "balanced", "host": "pool"})
        one.admin_ok("POST", "/services/balanced/routes", {"name": "balanced", "paths": ["/"]})
        one.wait_ready()
        flips_health(one, one, a, b)
        two.start()
        wait_for(lambda: served(two) == {"a", "b"}, 10, message="both targets served by the second node")
        target = f"/upstreams/pool/targets/127.0.0.1:{a.port}"

        def told(by, to, state: str) -> bool:
            assert by.admin("PUT", f"{target}/{state}")[0] == 204
            return health(to, a.port) == state.upper()

        # the other node hears it once it listens (a PUT before that is its own node's only)
        wait_for(lambda: told(one, two, "unhealthy"), 10, message="the second node told")
        assert served(two) == {"b"}
        assert served(one) == {"b"}
        wait_for(lambda: told(two, one, "healthy"), 10, message="the first node told")
        assert served(one) == {"a", "b"}
        assert served(two) == {"a", "b"}
    finally:
        for node in (one, two):
            assert node.stop() == 0, node.stderr()


def test_a_hybrid_control_plane_has_no_such_paths(control_plane_factory):
    cp = control_plane_factory()
    cp.admin_ok(
        "POST", "/upstreams", {"name": "pool", "healthchecks": {"passive": {"unhealthy": {"http_failures": 3}}}}
    )
    cp.admin_ok("POST", "/upstreams/pool/targets", {"target": "127.0.0.1:8080"})
    for path in (
        "/upstreams/pool/targets/127.0.0.1:8080/unhealthy",
        "/upstreams/pool/targets/127.0.0.1:8080/10.0.0.1/healthy",
    ):
        assert cp.admin("PUT", path) == (404, {"message": "Not found"})
    data = cp.admin("GET", "/endpoints")[1]["data"]
    assert not any(path in data for path in PATHS)
