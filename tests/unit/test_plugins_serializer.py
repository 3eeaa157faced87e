"""kong.log.serialize: Kong's record of a request (kong/pdk/log.lua, the http subsystem; Kong's
spec/01-unit/10-log_serializer_spec.lua), through the plugin test kit, and
kong.log.set_serialize_value's dotted keys and modes."""

from __future__ import annotations

import importlib
import json
import types
from typing import Any

import pytest

from dataplane.pdk import PDKError
from dataplane.plugins.serializer import DEFAULT_WORKSPACE_ID, edit, split_key
from dataplane.plugins.testing import PluginHarness, Request, Upstream
from dataplane.schema.fields import record


def recorder(edits: list[tuple[Any, ...]] = (), terminate: bool = False) -> types.ModuleType:
    """A plugin keeping its request's record in kong.ctx.shared["record"], after ``edits``
    (set_serialize_value's arguments) made in access."""
    module = types.ModuleType("recorder")

    class Plugin:
        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def access(self, kong: Any) -> None:
            for one in edits if kong.request.get_header("x-no-edit") is None else ():
                kong.log.set_serialize_value(*one)
            if terminate:
                kong.response.exit(418, {"message": "teapot"})

        def log(self, kong: Any) -> None:
            kong.ctx.shared["record"] = kong.log.serialize()

    module.Plugin = Plugin  # type: ignore[attr-defined]
    module.Schema = record(required=True)  # type: ignore[attr-defined]
    module.priority = 1  # type: ignore[attr-defined]  # after key-auth
    module.version = "1.0.0"  # type: ignore[attr-defined]
    return module


def logged(*edits: tuple[Any, ...], request: Request | None = None, **kw: Any) -> dict[str, Any]:
    harness = PluginHarness(recorder(list(edits)))
    return harness.run(request or Request("GET", "/orders?id=7&all"), config={}, **kw).shared["record"]


def test_the_record_of_a_proxied_request():
    record_ = logged(
        request=Request("POST", "/orders?id=7", {"Authorization": "Bearer x", "X-Trace": "t1"}, b"{}"),
        upstream=Upstream(201, {"Content-Type": "application/json", "X-Up": "u"}, b'{"id": 7}'),
    )
    request = record_["request"]
    assert request["method"] == "POST"
    assert request["uri"] == "/orders?id=7"
    assert request["url"] == "http://example.com:8000/orders?id=7"
    assert request["querystring"] == {"id": "7"}
    assert request["headers"]["authorization"] == "REDACTED"
    assert request["headers"]["x-trace"] == "t1"
    assert request["size"] > len(b"{}")  # the head and the body, nginx's $request_length
    assert len(request["id"]) == 32 and "tls" not in request
    assert record_["upstream_uri"] == "/orders?id=7"
    assert record_["upstream_status"] == "201"
    response = record_["response"]
    assert response["status"] == 201
    assert response["headers"]["x-up"] == "u" and response["headers"]["content-type"] == "application/json"
    assert response["size"] > len(b'{"id": 7}')  # head and body, nginx's $bytes_sent
    assert set(record_["latencies"]) == {"kong", "proxy", "request", "receive"}
    assert all(isinstance(value, int) and value >= 0 for value in record_["latencies"].values())
    (only,) = record_["tries"]
    assert (only["ip"], only["port"]) == ("upstream.test", 80)
    assert {"balancer_start", "balancer_latency"} <= set(only)
    assert record_["route"]["name"] == "route" and record_["service"]["name"] == "service"
    assert record_["client_ip"] == "127.0.0.1"
    assert abs(record_["started_at"] - record_["tries"][0]["balancer_start"]) < 1000
    assert record_["source"] == "upstream"
    assert (record_["workspace"], record_["workspace_name"]) == (DEFAULT_WORKSPACE_ID, "default")
    assert "consumer" not in record_ and "authenticated_entity" not in record_


def test_both_authorization_headers_are_redacted_and_nothing_else():
    headers = {"Authorization": "Basic Ym9iOnNlY3JldA==", "Proxy-Authorization": "Basic eA==", "apikey": "k"}
    record_ = logged(request=Request("GET", "/", headers))
    assert record_["request"]["headers"]["authorization"] == "REDACTED"
    assert record_["request"]["headers"]["proxy-authorization"] == "REDACTED"
    assert record_["request"]["headers"]["apikey"] == "k"


def test_a_request_a_plugin_answered():
    harness = PluginHarness(recorder(terminate=True))
    record_ = harness.run(Request("GET", "/x"), config={}).shared["record"]
    assert record_["response"]["status"] == 418
    assert record_["source"] == "kong"
    assert record_["latencies"]["proxy"] == -1 and record_["latencies"]["receive"] == 0
    assert record_["tries"] == [] and record_["upstream_status"] == ""


def test_the_consumer_and_the_credential_that_authenticated():
    key_auth = importlib.import_module("dataplane.plugins.bundled.key_auth")
    consumer = {"id": "c0ffee00-0000-4000-8000-000000000001", "username": "bob", "custom_id": None}
    credential = {"id": "c0ffee00-0000-4000-8000-000000000002", "key": "k1", "consumer": {"id": consumer["id"]}}
    harness = PluginHarness(
        key_auth, recorder(), entities={"consumers": [consumer], "keyauth_credentials": [credential]}
    )
    record_ = harness.run(Request(headers={"apikey": "k1"}), configs={"key-auth": {}, "recorder": {}}).shared["record"]
    assert record_["consumer"]["username"] == "bob"
    assert record_["authenticated_entity"] == {"id": credential["id"], "consumer_id": consumer["id"]}


def test_set_serialize_value_dotted_keys_and_modes():
    record_ = logged(
        ("my_new_value", 1),
        ("my", {"new": {"value": 2}}),
        ("my.new.other", 4),
        ("my\\.dotted\\.key", 5),
        ("request.size", 0, {"mode": "replace"}),
        ("absent.deep", 1, {"mode": "replace"}),
        ("client_ip", "10.0.0.1", {"mode": "add"}),
        ("added", "yes", {"mode": "add"}),
        ("workspace_name", None),
    )
    assert record_["my_new_value"] == 1
    assert record_["my"] == {"new": {"value": 2, "other": 4}}
    assert record_["my.dotted.key"] == 5
    assert record_["request"]["size"] == 0
    assert "absent" not in record_
    assert record_["client_ip"] == "127.0.0.1" and record_["added"] == "yes"
    assert "workspace_name" not in record_


def test_set_serialize_value_refuses_what_kong_refuses():
    harness = PluginHarness(recorder([("k", 1, {"mode": "upsert"})]))
    with pytest.raises(PDKError, match="mode must be 'set', 'add' or 'replace'"):
        harness.run(config={})
    with pytest.raises(ValueError, match="could not be used as a serialize value. Subkey 'client_ip' is not a table"):
        edit({"client_ip": "1.2.3.4"}, [("client_ip.v4", 1, "set")])
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(ValueError, match="value must be nil, a number, string, boolean"):
        edit({}, [("k", looped, "set")])
    with pytest.raises(ValueError, match="value must be nil"):
        edit({}, [("k", object(), "set")])


@pytest.mark.parametrize(
    ("key", "path"),
    [("a", ["a"]), ("a.b.c", ["a", "b", "c"]), ("a\\.b", ["a.b"]), ("a\\.b.c", ["a.b", "c"]), (".a", [".a"])],
)
def test_keys_split_at_unescaped_dots(key, path):
    assert split_key(key) == path


def test_edits_of_the_record_never_reach_the_configuration():
    harness = PluginHarness(recorder([("route.name", "changed"), ("service.tags", ["x"])]))
    first = harness.run(config={}).shared["record"]
    assert (first["route"]["name"], first["service"]["tags"]) == ("changed", ["x"])
    first["route"]["paths"].append("/mutated")
    plain = harness.run(Request(headers={"X-No-Edit": "1"}), config={}).shared["record"]
    assert plain["route"]["name"] == "route" and plain["service"]["tags"] is None
    assert plain["route"]["paths"] == ["/"]


def test_logging_plugins_share_the_encoded_record_until_an_edit():
    from dataplane.plugins.bundled._log_plugins import entry

    def logger(name: str, priority: int, edit: bool) -> types.ModuleType:
        module = types.ModuleType(name)

        class Plugin:
            def __init__(self, config: dict[str, Any]) -> None:
                pass

            def log(self, kong: Any) -> None:
                kong.ctx.shared[name] = entry(kong)
                if edit:
                    kong.log.set_serialize_value("added.by", name)

        module.Plugin = Plugin  # type: ignore[attr-defined]
        module.Schema = record(required=True)  # type: ignore[attr-defined]
        module.priority = priority  # type: ignore[attr-defined]
        module.version = "1.0.0"  # type: ignore[attr-defined]
        return module

    harness = PluginHarness(logger("first", 3, False), logger("second", 2, True), logger("third", 1, False))
    shared = harness.run(configs={"first": {}, "second": {}, "third": {}}).shared
    assert shared["first"] is shared["second"]  # encoded once
    assert "added" not in json.loads(shared["second"])
    assert json.loads(shared["third"])["added"] == {"by": "second"}
    assert json.loads(shared["first"])["route"]["name"] == "route"


def test_the_record_of_a_request_no_route_matched():
    harness = PluginHarness(recorder(), scope="global", route={"paths": ["/api"]})
    record_ = harness.run(Request("GET", "/elsewhere"), config={}).shared["record"]
    assert record_["response"]["status"] == 404 and record_["source"] == "kong"
    assert "route" not in record_ and "service" not in record_
    assert record_["upstream_uri"] == "" and record_["tries"] == []
