"""`dataplane run` (role = data_plane, 2 workers) fed by a real `controlplane run`: a change to
one service or to an upstream's targets is routed as changed on every worker, and the other
services keep going where they went (their targets are reused, not rebuilt)."""

from __future__ import annotations

import json

from tests.support.processes import Gateway
from tests.support.waiting import wait_for

# Each request opens a connection of its own; SO_REUSEPORT spreads them over both workers.
TRIES = 8


def answered_by(gw: Gateway, path: str) -> set[str | None]:
    """Which echo upstreams answered a few requests for `path` (None: not proxied)."""
    seen: set[str | None] = set()
    for _ in range(TRIES):
        code, _, body = gw.request("GET", path)
        seen.add(json.loads(body)["upstream"] if code == 200 else None)
    return seen


def test_one_service_and_one_upstream_change_route_correctly(control_plane_factory, gateway_factory, upstream,
                                                            upstream2):
    cp = control_plane_factory()
    cp.admin_ok("POST", "/upstreams", {"name": "pool"})
    target = cp.admin_ok("POST", "/upstreams/pool/targets", {"target": f"127.0.0.1:{upstream.port}"})
    for name, url in (("direct", f"http://127.0.0.1:{upstream.port}"), ("moved", f"http://127.0.0.1:{upstream.port}"),
                      ("pooled", "http://pool"), ("gone", f"http://127.0.0.1:{upstream.port}")):
        cp.admin_ok("POST", "/services", {"name": name, "url": url})
        cp.admin_ok("POST", f"/services/{name}/routes", {"name": name, "paths": [f"/{name}"]})
    gw = gateway_factory(None, workers=2, name="dp", conf=cp.data_plane_conf())
    wait_for(lambda: answered_by(gw, "/gone") == {"one"}, timeout=20, message="the full config served")
    assert all(answered_by(gw, f"/{name}") == {"one"} for name in ("direct", "moved", "pooled"))

    # One service's host and port: only its requests go elsewhere.
    cp.admin_ok("PATCH", "/services/moved", {"url": f"http://127.0.0.1:{upstream2.port}"})
    wait_for(lambda: answered_by(gw, "/moved") == {"two"}, timeout=20, message="the changed service on both workers")
    assert answered_by(gw, "/direct") == {"one"} and answered_by(gw, "/pooled") == {"one"}

    # The upstream's targets: the service through it follows its new balancer.
    cp.admin_ok("POST", "/upstreams/pool/targets", {"target": f"127.0.0.1:{upstream2.port}"})
    cp.admin_ok("DELETE", f"/upstreams/pool/targets/{target['id']}")
    wait_for(lambda: answered_by(gw, "/pooled") == {"two"}, timeout=20, message="the new target on both workers")
    assert answered_by(gw, "/direct") == {"one"} and answered_by(gw, "/moved") == {"two"}

    # A service deleted (with its route): gone, and the others unchanged.
    cp.admin_ok("DELETE", "/routes/gone")
    cp.admin_ok("DELETE", "/services/gone")
    wait_for(lambda: answered_by(gw, "/gone") == {None}, timeout=20, message="the deleted service gone")
    assert answered_by(gw, "/direct") == {"one"}
    assert answered_by(gw, "/moved") == {"two"} and answered_by(gw, "/pooled") == {"two"}
