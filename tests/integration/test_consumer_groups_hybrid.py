"""Consumer groups in hybrid mode, with real processes: PostgreSQL, `controlplane run`, a
`dataplane run` data plane and an echo upstream. A group, its members and a plugin scoped to
it, written through the Admin API the way KIC writes them (PUT by a client-chosen id, members
with POST /consumer_groups/{g}/consumers), take effect on the data plane as they change: a
consumer joining gets the group's plugin and passes acl's include_consumer_groups, leaving
takes both away, and deleting the group removes its plugin."""

from __future__ import annotations

import uuid

import pytest

from tests.support.processes import Gateway
from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def ok(result: tuple[int, dict], status: int = 201) -> dict:
    code, body = result
    assert code == status, body
    return body


def call(dp: Gateway, path: str, key: str):
    return raw_request(dp.port, f"GET {path} HTTP/1.1\r\nHost: a\r\napikey: {key}\r\n\r\n".encode())


def tier(dp: Gateway, key: str) -> str | None:
    """The header the gold group's plugin adds, as /tiered answers (None when absent)."""
    response = call(dp, "/tiered", key)
    assert response.status == 200, response.status
    return response.header("x-tier")


@pytest.fixture(scope="module")
def cluster(control_plane_factory, module_gateway_factory, module_upstream):
    cp = control_plane_factory()
    ok(cp.admin("POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{module_upstream.port}"}))
    tiered = ok(cp.admin("POST", "/services/echo/routes", {"name": "tiered", "paths": ["/tiered"]}))
    gold_only = ok(cp.admin("POST", "/services/echo/routes", {"name": "gold-only", "paths": ["/gold"]}))
    for route in (tiered, gold_only):
        ok(cp.admin("POST", f"/routes/{route['id']}/plugins", {"name": "key-auth"}))
    ok(cp.admin("POST", f"/routes/{gold_only['id']}/plugins",
             {"name": "acl", "config": {"allow": ["gold"], "include_consumer_groups": True}}))
    dp = module_gateway_factory(None, name="dp", workers=1, conf=cp.data_plane_conf())
    wait_for(lambda: call(dp, "/tiered", "none").status == 401, message="key-auth on the data plane")
    return cp, dp


def test_group_membership_and_group_plugins_take_effect_as_they_change(cluster):
    cp, dp = cluster
    alice = ok(cp.admin("PUT", f"/consumers/{uuid.uuid4()}", {"username": "alice"}), 200)
    ok(cp.admin("PUT", f"/consumers/{alice['id']}/key-auth/{uuid.uuid4()}", {"key": "alice-key"}), 200)
    group_id = str(uuid.uuid4())
    ok(cp.admin("PUT", f"/consumer_groups/{group_id}", {"name": "gold", "tags": ["tier"]}), 200)
    plugin = ok(cp.admin("PUT", f"/plugins/{uuid.uuid4()}", {
        "name": "response-transformer", "consumer_group": {"id": group_id},
        "config": {"add": {"headers": ["x-tier:gold"]}}}), 200)

    wait_for(lambda: call(dp, "/tiered", "alice-key").status == 200, message="alice's key")
    assert tier(dp, "alice-key") is None  # not a member yet
    assert call(dp, "/gold", "alice-key").status == 403

    # joining (go-kong's ConsumerGroupConsumers.Create)
    ok(cp.admin("POST", f"/consumer_groups/{group_id}/consumers", {"consumer": alice["id"]}))
    wait_for(lambda: tier(dp, "alice-key") == "gold", message="the group's plugin for its member")
    wait_for(lambda: call(dp, "/gold", "alice-key").status == 200, message="acl with the member's group")

    # the group's plugin changed: the member sees the change
    ok(cp.admin("PATCH", f"/plugins/{plugin['id']}", {"config": {"add": {"headers": ["x-tier:platinum"]}}}), 200)
    wait_for(lambda: tier(dp, "alice-key") == "platinum", message="the changed group plugin")

    # leaving, from the consumer's side
    assert cp.admin("DELETE", f"/consumers/alice/consumer_groups/{group_id}")[0] == 204
    wait_for(lambda: tier(dp, "alice-key") is None, message="the plugin gone with the membership")
    wait_for(lambda: call(dp, "/gold", "alice-key").status == 403, message="acl without the group")

    # back in, then the group deleted: its plugin and memberships go with it
    ok(cp.admin("POST", "/consumers/alice/consumer_groups", {"group": "gold"}))
    wait_for(lambda: tier(dp, "alice-key") == "platinum", message="member again")
    assert cp.admin("DELETE", "/consumer_groups/gold")[0] == 204
    wait_for(lambda: tier(dp, "alice-key") is None, message="the group deleted")
    assert call(dp, "/gold", "alice-key").status == 403
    assert cp.admin("GET", f"/plugins/{plugin['id']}")[0] == 404
