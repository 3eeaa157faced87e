"""dataplane.plugins.testing: one request through a plugin's phases with the real chain and PDK,
no gateway started."""

from __future__ import annotations

import importlib
import textwrap

import pytest

from dataplane.pdk import PDKError
from dataplane.plugins.spec import PluginError
from dataplane.plugins.testing import PluginConfigError, PluginHarness, Request, Upstream, plugin_spec
from tests.support.plugin_modules import module

REWRITER = module(
    "rewriter",
    """
    from dataplane.schema import Field
    from dataplane.schema.fields import record

    priority = 50
    version = "1.0.0"
    Schema = record(("tag", Field("string", required=True, default="t1")), required=True)

    class Plugin:
        def __init__(self, config):
            self.tag = config["tag"]

        def access(self, kong):
            kong.service.request.set_header("x-tag", self.tag)
            kong.service.request.add_header("x-many", "1")
            kong.service.request.add_header("x-many", "2")
            kong.service.request.clear_header("x-drop-me")
            kong.service.request.set_path("/rewritten")
            kong.service.request.set_query({"page": "2"})
            kong.service.request.set_method("POST")
            kong.service.request.set_header("Host", "backend.internal")

        def header_filter(self, kong):
            kong.response.set_header("x-upstream-status", kong.service.response.get_status())
            kong.response.clear_header("x-secret")
    """,
)

GATE = module(
    "gate",
    """
    priority = 1000
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def rewrite(self, kong):
            kong.ctx.shared["rewritten"] = True

        def access(self, kong):
            kong.ctx.shared["order"] = ["gate"]
            kong.ctx.plugin["mine"] = "gate's"
            if kong.request.get_header("x-deny"):
                return kong.response.exit(403, {"message": "denied"}, {"X-Denied": "yes"})
            if kong.request.get_header("x-auth") is None:
                return kong.response.error(401)

        def header_filter(self, kong):
            kong.response.set_header("x-gate-saw", kong.response.get_status())

        def log(self, kong):
            status, method = kong.response.get_status(), kong.nginx.get_var("request_method")
            kong.log.info("gate logged ", status, " for a ", method)
    """,
)

AFTER = module(
    "after_gate",
    """
    priority = 10
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def access(self, kong):
            kong.ctx.shared["order"].append("after-gate")
            assert "mine" not in kong.ctx.plugin
            body = kong.request.get_body() if kong.request.get_method() == "POST" else {}
            kong.service.request.set_header("x-order", ",".join(kong.ctx.shared["order"]))
            kong.service.request.set_header("x-items", str(len(body.get("items", []))))
    """,
)

FAILING = module(
    "failing",
    """
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def access(self, kong):
            raise RuntimeError("broken plugin")
    """,
)


def test_upstream_changes_and_response_changes_are_what_the_proxy_would_send():
    request = Request("GET", "/orders?page=1", {"X-Drop-Me": "x", "Host": "shop.test"})
    result = PluginHarness(REWRITER).run(
        request, upstream=Upstream(201, {"X-Secret": "s", "Content-Type": "application/json"}, b"{}")
    )
    upstream = result.upstream
    assert upstream is not None
    assert (upstream.method, upstream.path, upstream.query) == ("POST", "/rewritten", "page=2")
    assert upstream.headers["host"] == "backend.internal"
    assert upstream.headers["x-tag"] == "t1"  # the schema's default
    assert upstream.headers.get_all("x-many") == ["1", "2"]
    assert "x-drop-me" not in upstream.headers
    assert upstream.headers["x-forwarded-host"] == "shop.test"  # the proxy's own fields are there
    response = result.response
    assert (response.status, response.body, response.source) == (201, b"{}", "service")
    assert response.headers["x-upstream-status"] == "201" and "x-secret" not in response.headers
    assert response.headers["via"] == "1.1 gantry/0.1.0"


def test_configs_are_completed_and_checked_by_the_schema():
    harness = PluginHarness(REWRITER)
    assert harness.run(config={"tag": "t2"}).upstream.headers["x-tag"] == "t2"
    with pytest.raises(PluginConfigError) as err:
        harness.run(config={"tag": 3})
    assert err.value.errors == {"config": {"tag": "expected a string"}}
    with pytest.raises(ValueError, match="not in this harness: other"):
        harness.run(configs={"other": {}})


def test_exit_and_error_end_the_request_and_later_phases_still_run():
    harness = PluginHarness(GATE, AFTER)
    denied = harness.run(Request(headers={"X-Deny": "1"}))
    assert denied.upstream is None
    assert (denied.response.status, denied.response.json(), denied.response.source) == (
        403,
        {"message": "denied"},
        "exit",
    )
    assert denied.response.headers["x-denied"] == "yes" and denied.response.headers["x-gate-saw"] == "403"
    assert denied.response.headers["content-type"] == "application/json; charset=utf-8"
    assert ("info", "[gate] gate logged 403 for a GET") in denied.logs
    refused = harness.run(Request(headers={"Accept": "application/json"}))
    assert refused.response.status == 401 and refused.response.json()["message"] == "Unauthorized"
    assert refused.response.source == "error"


def test_ctx_shared_runs_in_priority_order_and_ctx_plugin_is_per_plugin():
    result = PluginHarness(AFTER, GATE).run(
        Request("POST", "/", {"X-Auth": "ok", "Content-Type": "application/json"}, b'{"items": [1, 2, 3]}')
    )
    assert result.upstream.headers["x-order"] == "gate,after-gate"
    assert result.upstream.headers["x-items"] == "3"
    assert result.upstream.body == b'{"items": [1, 2, 3]}'
    assert result.shared == {"order": ["gate", "after-gate"]}  # no rewrite: not a global plugin


def test_global_plugins_run_their_rewrite_phase():
    assert PluginHarness(GATE, scope="global").run(Request(headers={"X-Auth": "ok"})).shared["rewritten"] is True


def test_a_failing_phase_fails_the_test_or_gives_kongs_500():
    harness = PluginHarness(FAILING)
    with pytest.raises(RuntimeError, match="broken plugin"):
        harness.run()
    result = harness.run(Request(headers={"Accept": "application/json"}), reraise=False)
    assert result.response.status == 500 and result.response.json()["message"] == "An unexpected error occurred"
    request_id = result.response.headers["x-kong-request-id"]
    assert ("error", f"plugin failing failed in access (request {request_id})") in result.logs


def test_a_bundled_plugin_with_its_entities():
    key_auth = importlib.import_module("dataplane.plugins.bundled.key_auth")
    consumer = {"id": "c0ffee00-0000-4000-8000-000000000001", "username": "bob", "custom_id": None}
    credential = {"id": "c0ffee00-0000-4000-8000-000000000002", "key": "k1", "consumer": {"id": consumer["id"]}}
    harness = PluginHarness(key_auth, entities={"consumers": [consumer], "keyauth_credentials": [credential]})
    result = harness.run(Request(headers={"apikey": "k1"}))
    assert result.consumer == consumer and result.credential["id"] == credential["id"]
    assert result.upstream.headers["x-consumer-username"] == "bob"
    assert harness.run(Request(headers={"apikey": "nope"})).response.status == 401


def test_a_request_no_route_matches_gets_kongs_404():
    result = PluginHarness(GATE, route={"paths": ["/api"]}).run(Request("GET", "/elsewhere"))
    assert result.response.status == 404 and result.upstream is None


def test_kong_pdk_files_load_as_the_gateway_loads_them(tmp_path):
    plugin = tmp_path / "py-greet.py"
    plugin.write_text(
        textwrap.dedent("""
        Schema = ({"name": {"type": "string", "default": "world"}},)
        version = "0.1.0"

        class Plugin:
            def __init__(self, config):
                self.name = config["name"]

            def access(self, kong):
                value, err = kong.request.get_header("x-missing")
                kong.response.set_header("x-greeting", "hello " + self.name + (" " + str(err) if err else ""))
                kong.response.set_header("x-lua-style", str(value is None and err is None))
        """)
    )
    result = PluginHarness(plugin).run()
    assert result.response.headers["x-greeting"] == "hello world"
    assert result.response.headers["x-lua-style"] == "True"
    assert plugin_spec(plugin).source == "kong-pdk"
    assert plugin_spec(plugin, lua_style=False).lua_style is False


WAITER = module(
    "waiter",
    """
    import asyncio

    priority = 2000
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        async def access(self, kong):
            await asyncio.sleep(0)
            if kong.request.get_header("x-stop"):
                return kong.response.exit(429, {"message": "wait"})
            kong.service.request.set_header("x-waited", "1")

        async def log(self, kong):
            await asyncio.sleep(0)
            kong.log.info("waited and logged ", kong.response.get_status())
    """,
)


def test_coroutine_phases_are_awaited_and_the_chain_goes_on_after_them():
    harness = PluginHarness(WAITER, GATE, AFTER)
    passed = harness.run(Request(headers={"X-Auth": "ok"}))
    assert passed.upstream.headers["x-waited"] == "1" and passed.upstream.headers["x-order"] == "gate,after-gate"
    assert ("info", "[waiter] waited and logged 200") in passed.logs
    stopped = harness.run(Request(headers={"X-Stop": "1", "X-Auth": "ok"}))
    assert stopped.response.status == 429 and stopped.upstream is None
    assert "order" not in stopped.shared  # gate's access never ran


def test_a_coroutine_header_filter_is_refused_when_the_plugin_loads():
    bad = module(
        "bad_filter",
        """
        class Plugin:
            async def header_filter(self, kong):
                pass
        """,
    )
    with pytest.raises(PluginError, match="header_filter cannot be a coroutine"):
        plugin_spec(bad)


SHOUT = module(
    "shout",
    """
    priority = 5
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            self.seen = []

        def body_filter(self, kong):
            kong.response.set_chunk(kong.response.get_chunk().upper())
    """,
)

WRAP = module(
    "wrap",
    """
    import json

    priority = 10
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def header_filter(self, kong):
            kong.response.set_header("Content-Type", "application/json")

        def body_filter(self, kong):
            body = kong.response.get_raw_body()
            if body is not None:
                kong.response.set_raw_body(json.dumps({"wrapped": body.decode(), "status": kong.response.get_status()}))
    """,
)

FIRST_PIECE = module(
    "first_piece",
    """
    priority = 20
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def body_filter(self, kong):
            kong.response.set_raw_body(b"only " + kong.response.get_chunk())
    """,
)


def test_body_filters_stream_piece_by_piece_in_priority_order():
    result = PluginHarness(SHOUT).run(upstream=Upstream(body=[b"one ", b"two ", b"three"]))
    assert result.response.body == b"ONE TWO THREE"
    assert "content-length" not in result.response.headers
    assert result.response.headers["transfer-encoding"] == "chunked"
    # wrap (priority 10) gathers the whole body first; shout (5) then gets it whole
    wrapped = PluginHarness(SHOUT, WRAP).run(upstream=Upstream(body=[b"a", b"b"]))
    assert wrapped.response.json() == {"WRAPPED": "AB", "STATUS": 200}
    assert wrapped.response.headers["content-type"] == "application/json"


def test_set_raw_body_ends_the_body_and_drops_the_rest():
    result = PluginHarness(FIRST_PIECE, SHOUT).run(upstream=Upstream(body=[b"x", b"y", b"z"]))
    assert result.response.body == b"ONLY X"


def test_body_filters_see_the_gateways_own_answers():
    result = PluginHarness(GATE, WRAP).run(Request(headers={"X-Deny": "1"}))
    assert result.response.status == 403
    assert result.response.json() == {"wrapped": '{"message":"denied"}', "status": 403}
    assert result.response.headers["content-length"] == str(len(result.response.body))


def test_chunk_calls_outside_body_filter_are_refused():
    early = module(
        "early",
        """
        class Plugin:
            def __init__(self, config):
                pass

            def access(self, kong):
                kong.response.get_raw_body()
        """,
    )
    with pytest.raises(PDKError, match="only allowed in the body_filter phase, not access"):
        PluginHarness(early).run()
    assert PluginHarness(early).run(reraise=False).response.status == 500


RESPONDER = module(
    "responder",
    """
    priority = 30
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def response(self, kong):
            body = kong.service.response.get_body()
            if body.get("secret"):
                return kong.response.exit(502, {"message": "the upstream leaked a secret"})
            kong.response.set_header("X-Items", str(len(body["items"])))
            kong.response.set_status(203)
    """,
)


def test_the_response_phase_reads_the_whole_upstream_body_and_may_replace_it():
    json_headers = (("Content-Type", "application/json"),)
    harness = PluginHarness(RESPONDER)
    seen = harness.run(upstream=Upstream(headers=json_headers, body=[b'{"items": [1,', b" 2]}"]))
    assert seen.response.status == 203 and seen.response.headers["x-items"] == "2"
    assert seen.response.body == b'{"items": [1, 2]}'
    assert seen.response.headers["content-length"] == str(len(seen.response.body))
    replaced = harness.run(upstream=Upstream(headers=json_headers, body=b'{"secret": 1}'))
    assert replaced.response.status == 502 and replaced.response.json() == {"message": "the upstream leaked a secret"}
