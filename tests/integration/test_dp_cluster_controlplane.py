"""`dataplane run` (role = data_plane, 2 workers) against a real `controlplane run` on PostgreSQL:
Admin API writes reach the data plane, as a full config on connect and as changes after."""

from __future__ import annotations

from tests.support.processes import node_id
from tests.support.waiting import wait_for


def test_admin_api_writes_reach_the_data_plane(control_plane_factory, gateway_factory, upstream):
    cp = control_plane_factory({"db_update_frequency": "1"})
    cp.admin_ok("POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{upstream.port}"})
    first = cp.admin_ok("POST", "/services/echo/routes", {"name": "first", "paths": ["/first"]})

    gw = gateway_factory(None, workers=2, name="dp", conf=cp.data_plane_conf())
    assert gw.request("GET", "/first")[0] == 200  # the full config on connect
    status = gw.status()[1]
    assert status["control_plane"]["connected"] is True
    first_version = status["configuration_version"]
    assert first_version > 0

    cp.admin_ok("POST", "/services/echo/routes", {"name": "second", "paths": ["/second"]})
    wait_for(lambda: gw.request("GET", "/second")[0] == 200, timeout=20, message="route added on the CP served")
    cp.admin_ok("DELETE", f"/routes/{first['id']}")
    wait_for(lambda: gw.request("GET", "/first")[0] == 404, timeout=20, message="route deleted on the CP gone")
    assert gw.request("GET", "/second")[0] == 200
    assert gw.status()[1]["configuration_version"] > first_version

    # The control plane lists the node with the hash it serves.
    served = gw.status()[1]["configuration_hash"]

    def listed():
        row = cp.data_planes().get(node_id(gw))
        return row if row is not None and row["config_hash"] == served else None

    row = wait_for(listed, timeout=20, message="data plane listed by the control plane")
    assert row["sync_status"] == "normal"

    # Control plane gone: the node keeps serving; back: it catches up.
    cp.stop()
    wait_for(lambda: gw.status()[1]["control_plane"]["connected"] is False, message="link down")
    assert gw.request("GET", "/second")[0] == 200
