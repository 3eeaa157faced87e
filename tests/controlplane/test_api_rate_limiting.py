"""rate-limiting through the Admin API of a control plane (Kong's
spec/03-plugins/23-rate-limiting/03-api_spec, as a hybrid control plane answers it): defaults
filled, Kong's deprecated redis_* fields stored as the redis record, and Kong's 400s for the
cluster policy, a missing limit and a sync_rate without the redis policy."""

from __future__ import annotations


def created(r) -> dict:
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_a_plugin_is_stored_with_kongs_defaults(api):
    plugin = created(api.post("/plugins", json={"name": "rate-limiting", "config": {"minute": 5}}))
    config = plugin["config"]
    assert (config["minute"], config["policy"], config["limit_by"]) == (5, "local", "consumer")
    assert config["redis"]["port"] == 6379 and config["redis"]["host"] is None
    assert (config["error_code"], config["error_message"], config["sync_rate"]) == (429, "API rate limit exceeded", -1)
    assert api.delete(f"/plugins/{plugin['id']}").status_code == 204


def test_the_flat_redis_fields_are_stored_as_the_redis_record(api):
    body = {"minute": 5, "policy": "redis", "redis_host": "127.0.0.1", "redis_port": 6380, "redis_database": 2}
    plugin = created(api.post("/plugins", json={"name": "rate-limiting", "config": body}))
    redis = plugin["config"]["redis"]
    assert (redis["host"], redis["port"], redis["database"]) == ("127.0.0.1", 6380, 2)
    assert "redis_host" not in plugin["config"]
    assert api.delete(f"/plugins/{plugin['id']}").status_code == 204


def test_the_cluster_policy_is_refused_as_on_kongs_hybrid_control_plane(api):
    r = api.post("/plugins", json={"name": "rate-limiting", "config": {"minute": 5, "policy": "cluster"}})
    assert r.status_code == 400
    body = r.json()
    assert (body["code"], body["name"]) == (2, "schema violation")
    assert body["fields"] == {"config": {"policy": "expected one of: local, redis"}}


def test_kongs_messages_for_a_config_it_refuses(api):
    r = api.post("/plugins", json={"name": "rate-limiting", "config": {}})
    assert r.status_code == 400
    assert "at least one of these fields must be non-empty: 'config.second'" in r.text
    r = api.post("/plugins", json={"name": "rate-limiting", "config": {"second": 20, "hour": 10}})
    assert r.json()["fields"] == {"config": "The limit for hour(10.0) cannot be lower than the limit for second(20.0)"}
    r = api.post("/plugins", json={"name": "rate-limiting", "config": {"minute": 1, "sync_rate": 5}})
    assert r.json()["fields"] == {"config": "sync_rate can only be used with the redis policy"}
    r = api.post("/plugins", json={"name": "rate-limiting", "config": {"minute": 1, "policy": "redis"}})
    assert r.json()["fields"] == {"config": {"redis": {"host": "required field missing"}}}


def test_the_schema_endpoint_describes_it(api):
    r = api.get("/schemas/plugins/rate-limiting")
    assert r.status_code == 200, r.text
    [config] = [field["config"] for field in r.json()["fields"] if "config" in field]
    names = [next(iter(field)) for field in config["fields"]]
    assert names[:6] == ["second", "minute", "hour", "day", "month", "year"]
    assert {"redis", "sync_rate", "error_code", "error_message"} <= set(names)
    shorthands = [next(iter(field)) for field in config["shorthand_fields"]]
    assert "redis_host" in shorthands and "redis_database" in shorthands
    policy = next(field["policy"] for field in config["fields"] if "policy" in field)
    assert (policy["default"], policy["one_of"]) == ("local", ["local", "redis"])
