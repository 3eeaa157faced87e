"""The plugin runtime through the real `dataplane run` (2 workers) in front of an echo upstream:
key-auth and request-termination as Kong's tests exercise them (spec/03-plugins/09-key-auth,
14-request-termination), Kong's scoping precedence, and routes without plugins untouched."""

from __future__ import annotations

import pytest

from tests.support.raw_client import raw_request

pytestmark = pytest.mark.timeout(60)

CONSUMER = "c0ffee00-0000-4000-8000-000000000001"
CREDENTIAL = "c0ffee00-0000-4000-8000-000000000002"


def config(port: int) -> str:
    return f"""
    _format_version: "3.0"
    consumers:
      - id: {CONSUMER}
        username: bob
        custom_id: bob-1
        keyauth_credentials:
          - id: {CREDENTIAL}
            key: secret-key
      - username: anon
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        routes:
          - name: open
            paths: ["/open"]
            strip_path: false
          - name: keyed
            paths: ["/keyed"]
            strip_path: false
            plugins:
              - name: key-auth
          - name: hidden
            paths: ["/hidden"]
            strip_path: false
            plugins:
              - name: key-auth
                config: {{hide_credentials: true, key_names: [apikey, x-api-key], realm: gantry}}
          - name: anonymous
            paths: ["/anonymous"]
            strip_path: false
            plugins:
              - name: key-auth
                config: {{anonymous: anon}}
          - name: closed
            paths: ["/closed"]
            strip_path: false
            plugins:
              - name: request-termination
                config: {{status_code: 403, message: "So long and thanks for all the fish!"}}
          - name: body
            paths: ["/body"]
            strip_path: false
            plugins:
              - name: request-termination
                config: {{status_code: 406, content_type: "text/plain", body: "<html>no</html>"}}
          - name: triggered
            paths: ["/triggered"]
            strip_path: false
            plugins:
              - name: request-termination
                config: {{trigger: x-stop}}
          - name: keyed-then-closed
            paths: ["/both"]
            strip_path: false
            plugins:
              - name: key-auth
              - name: request-termination
                config: {{status_code: 418}}
    plugins:
      - name: request-termination
        consumer: bob
        route: keyed-then-closed
        config: {{status_code: 451, message: "not for bob"}}
    """


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(config(module_upstream.port), name="plugins")


def get(gw, path: str, *headers: str):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode())


def test_a_route_without_plugins_is_proxied_as_before(gw):
    response = get(gw, "/open")
    assert response.status == 200
    assert "x-consumer-id" not in response.echoed_headers()


def test_key_auth_refuses_a_request_without_a_key(gw):
    response = get(gw, "/keyed", "Accept: application/json")
    assert response.status == 401
    assert response.json()["message"] == "No API key found in request"
    assert response.header("WWW-Authenticate") == "Key"
    assert response.header("X-Kong-Response-Latency") is not None and response.header("Via") is None


def test_key_auth_refuses_an_unknown_key_and_a_duplicate_one(gw):
    unknown = get(gw, "/keyed", "apikey: nope", "Accept: application/json")
    assert (unknown.status, unknown.json()["message"]) == (401, "Unauthorized")
    duplicate = get(gw, "/keyed?apikey=a&apikey=b", "Accept: application/json")
    assert (duplicate.status, duplicate.json()["message"]) == (401, "Duplicate API key found")


@pytest.mark.parametrize("where", ["header", "query"])
def test_key_auth_identifies_the_consumer_upstream(gw, where):
    response = get(gw, "/keyed?apikey=secret-key") if where == "query" else get(gw, "/keyed", "apikey: secret-key")
    assert response.status == 200
    echoed = response.echoed_headers()
    assert echoed["x-consumer-id"] == [CONSUMER]
    assert echoed["x-consumer-username"] == ["bob"] and echoed["x-consumer-custom-id"] == ["bob-1"]
    assert echoed["x-credential-identifier"] == [CREDENTIAL]
    assert "x-anonymous-consumer" not in echoed
    assert echoed["apikey"] == ["secret-key"] if where == "header" else response.json()["query"] == "apikey=secret-key"


def test_hide_credentials_strips_the_key_before_proxying(gw):
    from_header = get(gw, "/hidden", "X-API-Key: secret-key")
    assert from_header.status == 200 and "x-api-key" not in from_header.echoed_headers()
    from_query = get(gw, "/hidden?apikey=secret-key&keep=1")
    assert from_query.status == 200 and from_query.json()["query"] == "keep=1"
    refused = get(gw, "/hidden")
    assert refused.header("WWW-Authenticate") == 'Key realm="gantry"'


def test_anonymous_consumer_is_used_when_no_key_is_given(gw):
    response = get(gw, "/anonymous")
    assert response.status == 200
    echoed = response.echoed_headers()
    assert echoed["x-consumer-username"] == ["anon"] and echoed["x-anonymous-consumer"] == ["true"]
    assert "x-credential-identifier" not in echoed


def test_a_client_cannot_forge_consumer_headers(gw):
    response = get(gw, "/keyed", "apikey: secret-key", "X-Consumer-Username: mallory", "X-Anonymous-Consumer: true")
    echoed = response.echoed_headers()
    assert echoed["x-consumer-username"] == ["bob"] and "x-anonymous-consumer" not in echoed


def test_request_termination_answers_with_its_message(gw):
    response = get(gw, "/closed", "Accept: application/json")
    assert response.status == 403
    assert response.json()["message"] == "So long and thanks for all the fish!"
    assert response.header("X-Kong-Request-Id") is not None


def test_request_termination_with_a_body_and_its_content_type(gw):
    response = get(gw, "/body")
    assert response.status == 406
    assert bytes(response.body) == b"<html>no</html>" and response.header("Content-Type") == "text/plain"


def test_request_termination_trigger(gw):
    assert get(gw, "/triggered").status == 200
    assert get(gw, "/triggered", "X-Stop: 1").status == 503
    assert get(gw, "/triggered?x-stop=1").status == 503


def test_consumer_scoped_config_wins_once_the_consumer_is_known(gw):
    # route+consumer (level 2) beats the route's own (level 6) once key-auth (priority 1250)
    # identified bob; request-termination (priority 2) runs after it
    assert get(gw, "/both", "apikey: secret-key").status == 451
    assert get(gw, "/both").status == 401  # key-auth ends the request first
