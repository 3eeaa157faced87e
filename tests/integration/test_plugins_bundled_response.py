"""response-transformer through the real `dataplane run` (2 workers) in front of the echo
upstream, as Kong's spec/03-plugins/15-response-transformer exercises its header and JSON operations:
one gateway, a route per case. The echo upstream answers with Content-Type and Content-Length,
so the cases transform those and headers the plugin adds itself."""

from __future__ import annotations

import pytest

from tests.support.raw_client import raw_request

pytestmark = pytest.mark.timeout(60)

ROUTES = {
    "remove": "{remove: {headers: [Content-Type, X-Absent]}}",
    "rename": "{rename: {headers: ['Content-Type:X-Original-Type', 'X-Absent:X-Other']}}",
    "replace": "{replace: {headers: ['Content-Type:text/plain; charset=utf-8', 'X-Absent:nope']}}",
    "add": "{add: {headers: ['X-Added:yes:really', 'content-type:text/html']}}",
    "append": "{append: {headers: ['X-Multi:a', 'X-Multi:b', 'Content-Type:text/extra']}}",
    "together": (
        "{remove: {headers: [Content-Type]}, replace: {headers: ['Content-Type:text/replaced']},"
        " add: {headers: ['X-H3:v3', 'Content-Type:text/added']}, append: {headers: ['X-H3:v4']}}"
    ),
    "json": (
        "{remove: {json: [headers]}, rename: {json: ['path:echoed_path']}, add: {json: ['added:7'],"
        " json_types: [number]}, append: {json: ['method:appended']}}"
    ),
}


def config(port: int) -> str:
    routes = "".join(
        f"""
          - name: {name}
            paths: ["/{name}"]
            plugins:
              - name: response-transformer
                config: {conf}"""
        for name, conf in ROUTES.items()
    )
    return f"""
    _format_version: "3.0"
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        routes:{routes}
          - name: terminated
            paths: ["/terminated"]
            plugins:
              - name: request-termination
                config: {{status_code: 403, message: closed}}
              - name: response-transformer
                config: {{add: {{headers: ['X-Added:on-exit']}}}}
          - name: correlated
            paths: ["/correlated"]
            plugins:
              - name: correlation-id
                config: {{echo_downstream: true}}
              - name: response-transformer
                config: {{rename: {{headers: ['Kong-Request-ID:X-Trace']}}}}
    """


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(config(module_upstream.port), name="response")


def get(gw, path: str):
    response = raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n".encode())
    return response, [value for name, value in response.headers if name.lower() == "content-type"]


def values(response, name: str) -> list[str]:
    return [value for key, value in response.headers if key.lower() == name.lower()]


def test_remove_drops_a_header_of_the_upstream(gw):
    response, content_type = get(gw, "/remove")
    assert response.status == 200 and content_type == []
    assert response.json()["path"] == "/"  # the body is the upstream's, untouched


def test_rename_moves_the_value_to_the_new_name(gw):
    response, content_type = get(gw, "/rename")
    assert content_type == [] and values(response, "X-Original-Type") == ["application/json"]
    assert values(response, "X-Other") == []


def test_replace_changes_only_a_header_that_is_there(gw):
    response, content_type = get(gw, "/replace")
    assert content_type == ["text/plain; charset=utf-8"] and values(response, "X-Absent") == []


def test_add_sets_only_a_header_that_is_missing(gw):
    response, content_type = get(gw, "/add")
    assert values(response, "X-Added") == ["yes:really"]  # the value is everything after the first colon
    assert content_type == ["application/json"]


def test_append_adds_every_value(gw):
    response, content_type = get(gw, "/append")
    assert values(response, "X-Multi") == ["a", "b"]
    assert content_type == ["application/json", "text/extra"]


def test_operations_run_in_kongs_order_on_the_headers_as_they_came(gw):
    response, content_type = get(gw, "/together")
    # removed, then replaced as it was there when header_filter began, and so not added
    assert content_type == ["text/replaced"]
    assert values(response, "X-H3") == ["v3", "v4"]


def test_a_response_the_gateway_makes_is_transformed_too(gw):
    response, _ = get(gw, "/terminated")
    assert response.status == 403 and response.json()["message"] == "closed"
    assert values(response, "X-Added") == ["on-exit"]


def test_a_header_an_earlier_plugin_set_is_seen(gw):
    # correlation-id (priority 100001) echoes its id in header_filter before response-transformer (800)
    response, _ = get(gw, "/correlated")
    assert response.status == 200
    assert values(response, "Kong-Request-ID") == []
    sent_upstream = [value for name, value in response.json()["headers"] if name.lower() == "kong-request-id"]
    assert len(sent_upstream) == 1 and values(response, "X-Trace") == sent_upstream


def test_json_operations_rewrite_the_echoed_body(gw):
    response, _ = get(gw, "/json")
    assert response.status == 200
    body = response.json()
    assert "headers" not in body and body["echoed_path"] == "/" and body["added"] == 7
    assert body["method"] == ["GET", "appended"]
    assert response.header("content-length") is None and response.header("transfer-encoding") == "chunked"
