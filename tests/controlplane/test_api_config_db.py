"""`/config` on a node with a database (kong/api/routes/config.lua): Kong's 400 for both verbs,
and the Admin API's /status keeps its database section."""

from __future__ import annotations

ONLY_DBLESS = "this endpoint is only available when Kong is configured to not use a database"


def test_config_is_only_for_dbless_nodes(api):
    assert (api.get("/config").status_code, api.get("/config").json()) == (400, {"message": ONLY_DBLESS})
    r = api.post("/config", json={"_format_version": "3.0", "services": [{"name": "s", "host": "a.test"}]})
    assert (r.status_code, r.json()) == (400, {"message": ONLY_DBLESS})
    r = api.post("/config", data={"config": "_format_version: '3.0'\n"})
    assert (r.status_code, r.json()) == (400, {"message": ONLY_DBLESS})
    assert api.get("/services").json()["data"] == []
    status = api.get("/status").json()
    assert status["database"] == {"reachable": True} and "configuration_hash" not in status
