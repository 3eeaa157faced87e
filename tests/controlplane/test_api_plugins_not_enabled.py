"""A plugin entity of a plugin this node does not run is refused on every write path with Kong's
400 "not enabled" schema violation (spec/02-integration/04-admin_api/04-plugins_routes_spec.lua),
and nothing is stored; the schema endpoints answer as Kong does for an unloaded plugin. The
plugin used, datadog, is one of Kong's bundled names that Gantry does not run."""
from __future__ import annotations

import uuid

import pytest

from controlplane.database import PluginNotEnabled
from controlplane.server import check_plugins_in_use
from dataplane.plugins import load_registry
from tests.support.admin_api import AdminApi

NOT_ENABLED = "plugin '{}' not enabled; add it to the 'plugins' configuration property"


def refusal(name: str) -> dict:
    return {
        "code": 2,
        "name": "schema violation",
        "message": f"schema violation (name: {NOT_ENABLED.format(name)})",
        "fields": {"name": NOT_ENABLED.format(name)},
    }


def created(r) -> dict:
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture(scope="module")
def parents(api) -> dict[str, str]:
    """A service, a route and a consumer to nest plugins under, by collection name."""
    service = created(api.post("/services", json={"name": "guarded", "host": "guarded.test"}))
    route = created(api.post("/routes", json={"name": "guarded-route", "paths": ["/g"],
                                               "service": {"id": service["id"]}}))
    consumer = created(api.post("/consumers", json={"username": "guarded-user"}))
    return {"services": service["id"], "routes": route["id"], "consumers": consumer["id"]}


def stored_plugins(api) -> list[dict]:
    return api.get("/plugins").json()["data"]


def collections(parents: dict[str, str]) -> list[str]:
    return ["/plugins"] + [f"/{kind}/{key}/plugins" for kind, key in parents.items()]


def test_post_on_every_collection_is_refused_and_stores_nothing(api, parents):
    before = stored_plugins(api)
    for path in collections(parents):
        for body in ({"json": {"name": "datadog"}}, {"data": {"name": "datadog"}},
                     {"json": {"name": "datadog", "config": {"host": "127.0.0.1"}, "enabled": False}}):
            r = api.post(path, **body)
            assert (r.status_code, r.json()) == (400, refusal("datadog")), (path, body)
    assert stored_plugins(api) == before


def test_put_on_every_collection_is_refused_and_stores_nothing(api, parents):
    before = stored_plugins(api)
    for path in collections(parents):
        new_id = str(uuid.uuid4())
        r = api.put(f"{path}/{new_id}", json={"name": "acme"})
        assert (r.status_code, r.json()) == (400, refusal("acme")), path
        assert api.get(f"/plugins/{new_id}").status_code == 404
        # by instance name too (the endpoint key of plugins)
        r = api.put(f"{path}/named-{new_id[:8]}", json={"name": "aws-lambda"})
        assert (r.status_code, r.json()) == (400, refusal("aws-lambda")), path
    assert stored_plugins(api) == before


def test_patch_to_a_plugin_not_enabled_is_refused_and_leaves_the_stored_one(api, parents):
    for path in collections(parents):
        plugin = created(api.post(path, json={"name": "request-termination"}))
        r = api.patch(f"{path}/{plugin['id']}", json={"name": "datadog"})
        assert (r.status_code, r.json()) == (400, refusal("datadog")), path
        assert api.get(f"/plugins/{plugin['id']}").json() == plugin
        assert api.delete(f"/plugins/{plugin['id']}").status_code == 204


def test_validate_and_schema_endpoints(api):
    r = api.post("/schemas/plugins/validate", json={"name": "datadog"})
    assert (r.status_code, r.json()) == (400, refusal("datadog"))
    r = api.post("/schemas/plugins/validate", json={"name": "cors"})
    assert (r.status_code, r.json()) == (200, {"message": "schema validation successful"})
    r = api.get("/schemas/plugins/datadog")
    assert (r.status_code, r.json()) == (404, {"message": "No plugin named 'datadog'"})
    enabled = api.get("/plugins/enabled").json()["enabled_plugins"]
    assert "datadog" not in enabled and "cors" in enabled
    assert "datadog" not in api.get("/").json()["plugins"]["available_on_server"]


def test_the_nodes_plugins_setting_decides_for_bundled_plugins_too(postgres, db_conf):
    """A node with `plugins = key-auth` does not run cors: cors is not enabled there."""
    with AdminApi(postgres.conf(db_conf.pg_database, plugins="key-auth")) as narrow:
        before = stored_plugins(narrow)
        r = narrow.post("/plugins", json={"name": "cors"})
        assert (r.status_code, r.json()) == (400, refusal("cors"))
        assert stored_plugins(narrow) == before
        assert narrow.get("/plugins/enabled").json() == {"enabled_plugins": ["key-auth"]}
        available = narrow.get("/").json()["plugins"]["available_on_server"]
        key_auth = load_registry(("bundled",)).get("key-auth")
        assert available == {"key-auth": {"version": key_auth.version, "priority": key_auth.priority}}
        assert narrow.get("/schemas/plugins/cors").status_code == 404
        created(narrow.post("/plugins", json={"name": "key-auth"}))


def test_a_database_holding_a_plugin_the_node_does_not_run_is_found(api):
    """What `controlplane run` checks before serving (Kong's start-up check and message)."""
    created(api.post("/plugins", json={"name": "correlation-id"}))

    async def check(names: tuple[str, ...]) -> str | None:
        try:
            await check_plugins_in_use(api.db, load_registry(names))
        except PluginNotEnabled as err:
            return str(err)
        return None

    assert api.run(check(("bundled",))) is None
    assert api.run(check(("key-auth",))) == "correlation-id plugin is in use but not enabled"

