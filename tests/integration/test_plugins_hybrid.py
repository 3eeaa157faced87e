"""Plugins in hybrid mode, with real processes: PostgreSQL, `controlplane run`, two `dataplane run`
data planes (2 workers each) and an echo upstream. key-auth and a consumer with its credential are
written through the Admin API as a Kong user types them (form bodies), and every data plane
enforces them, then stops when the plugin is disabled; a config that fails its schema is refused
with Kong's 400 and changes nothing on the data planes."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlencode

import pytest

from tests.support.processes import ControlPlane, Gateway
from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

PROPAGATION_BOUND = 5.0  # seconds; generous for a loaded 2-core machine
NO_KEY = "No API key found in request"


def form(cp: ControlPlane, method: str, path: str, fields: dict[str, str]) -> tuple[int, dict]:
    """An Admin API request with an application/x-www-form-urlencoded body (httpie's --form, curl -d)."""
    conn = http.client.HTTPConnection("127.0.0.1", cp.admin_port, timeout=10)
    try:
        conn.request(
            method, path, body=urlencode(fields), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


def get(dp: Gateway, path: str, *headers: str):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(dp.port, f"GET {path} HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n{head}\r\n".encode())


@pytest.fixture(scope="module")
def cluster(control_plane_factory, module_gateway_factory, module_upstream):
    cp = control_plane_factory()
    code, body = form(cp, "POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{module_upstream.port}"})
    assert code == 201, body
    code, body = form(cp, "POST", "/services/echo/routes", {"name": "keyed", "paths[]": "/keyed"})
    assert code == 201, body
    dps = [module_gateway_factory(None, name=f"dp{i}", conf=cp.data_plane_conf()) for i in range(2)]
    wait_for(lambda: all(get(dp, "/keyed").status == 200 for dp in dps), message="/keyed on both data planes")
    return cp, dps


def key_auth_enforced(dps: list[Gateway]) -> bool:
    for dp in dps:
        refused = get(dp, "/keyed")
        if refused.status != 401 or refused.json().get("message") != NO_KEY:
            return False
        admitted = get(dp, "/keyed", "apikey: hybrid-secret")
        if admitted.status != 200 or admitted.echoed_headers().get("x-consumer-username") != ["alice"]:
            return False
    return True


def test_key_auth_written_through_the_admin_api_is_enforced_then_lifted_on_every_data_plane(cluster):
    cp, dps = cluster
    assert all(get(dp, "/keyed").status == 200 for dp in dps)

    code, plugin = form(cp, "POST", "/routes/keyed/plugins", {"name": "key-auth"})
    assert code == 201, plugin
    assert plugin["config"]["key_names"] == ["apikey"] and plugin["route"]["id"]
    code, consumer = form(cp, "POST", "/consumers", {"username": "alice"})
    assert code == 201, consumer
    code, credential = form(cp, "POST", "/consumers/alice/key-auth", {"key": "hybrid-secret"})
    assert code == 201, credential
    assert credential["consumer"]["id"] == consumer["id"]

    started = time.monotonic()
    wait_for(
        lambda: key_auth_enforced(dps),
        timeout=PROPAGATION_BOUND,
        interval=0.05,
        message="key-auth enforced by both data planes",
    )
    assert time.monotonic() - started < PROPAGATION_BOUND
    for dp in dps:  # the other worker of each node too: every request goes through key-auth
        assert [get(dp, "/keyed").status for _ in range(6)] == [401] * 6

    code, disabled = form(cp, "PATCH", f"/plugins/{plugin['id']}", {"enabled": "false"})
    assert code == 200 and disabled["enabled"] is False, disabled
    wait_for(
        lambda: all(get(dp, "/keyed").status == 200 for dp in dps),
        timeout=PROPAGATION_BOUND,
        interval=0.05,
        message="the route open again on both data planes",
    )
    echoed = get(dps[1], "/keyed", "apikey: hybrid-secret").echoed_headers()
    assert "x-consumer-username" not in echoed  # no plugin runs: the key is just a header


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"config.key_names": ""}, "key_names", "required field missing"),  # an empty form value is null
        ({"config.hide_credentials": "maybe"}, "hide_credentials", "expected a boolean"),
    ],
)
def test_a_config_failing_its_schema_is_refused_and_changes_nothing(cluster, fields, field, message):
    cp, dps = cluster
    before = [dp.status()[1]["configuration_hash"] for dp in dps]
    code, body = form(cp, "POST", "/plugins", {"name": "key-auth", **fields})
    assert code == 400, body
    assert body["name"] == "schema violation" and body["code"] == 2
    assert body["fields"]["config"] == {field: message}
    assert body["message"] == f"schema violation (config.{field}: {message})"
    assert all(row["name"] != "key-auth" or row["enabled"] is False for row in cp.admin_ok("GET", "/plugins")["data"])
    time.sleep(1.5)  # > the control plane's 1 s poll: a change would have been pushed by now
    assert [dp.status()[1]["configuration_hash"] for dp in dps] == before


def test_a_response_transformer_added_through_the_admin_api_reaches_every_data_plane(cluster):
    cp, dps = cluster
    code, body = form(
        cp,
        "POST",
        "/routes/keyed/plugins",
        {"name": "response-transformer", "config.add.headers": "X-A:1", "config.add.json": "p1:v1"},
    )
    assert code == 201, body
    assert body["config"]["add"] == {"headers": ["X-A:1"], "json": ["p1:v1"], "json_types": []}
    wait_for(
        lambda: all(get(dp, "/keyed").header("X-A") == "1" for dp in dps),
        timeout=PROPAGATION_BOUND,
        message="the header response-transformer adds from both data planes",
    )
    assert all(get(dp, "/keyed").json()["p1"] == "v1" for dp in dps)  # the echo's JSON body, transformed


def test_a_data_plane_without_a_plugin_the_config_uses_gets_no_config(control_plane_factory, gateway_factory,
                                                                     module_upstream):
    """`plugins = key-auth` on one data plane (bundled minus the rest): once the control plane's
    config uses cors, that node is refused (Kong's plugin_set_incompatible) and keeps serving what
    it had; a node with `plugins = bundled` gets the new config. A plugin no node runs is never
    stored."""
    cp = control_plane_factory()
    url = f"http://127.0.0.1:{module_upstream.port}"
    assert cp.admin("POST", "/services", {"name": "echo", "url": url})[0] == 201
    assert cp.admin("POST", "/services/echo/routes", {"name": "open", "paths": ["/open"]})[0] == 201
    narrow = gateway_factory(None, name="narrow", conf={**cp.data_plane_conf(), "plugins": "key-auth"})
    full = gateway_factory(None, name="full", conf=cp.data_plane_conf())
    wait_for(lambda: all(get(dp, "/open").status == 200 for dp in (narrow, full)), message="/open on both")
    served = narrow.status()[1]["configuration_hash"]

    code, body = cp.admin("POST", "/routes/open/plugins", {"name": "datadog"})
    assert (code, body["fields"]) == (400, {
        "name": "plugin 'datadog' not enabled; add it to the 'plugins' configuration property"})
    assert cp.admin("POST", "/routes/open/plugins", {"name": "cors"})[0] == 201

    def cors_on_full() -> bool:
        answer = raw_request(full.port, b"GET /open HTTP/1.1\r\nHost: a\r\nOrigin: http://x.test\r\n\r\n")
        return answer.header("access-control-allow-origin") is not None

    wait_for(cors_on_full, timeout=PROPAGATION_BOUND, message="cors on the full data plane")

    def narrow_row() -> dict | None:
        row = cp.data_planes().get((narrow.prefix / "node.id").read_text().strip())
        return row if row and row["sync_status"] == "plugin_set_incompatible" else None

    wait_for(narrow_row, message="the narrow data plane refused")
    assert narrow.status()[1]["configuration_hash"] == served
    assert get(narrow, "/open").status == 200
    wait_for(lambda: "configured cors plugin" in narrow.error_log(), message="the refusal in its log")
