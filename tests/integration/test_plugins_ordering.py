"""Kong 3.x dynamic ordering through the real `dataplane run`: request-termination (priority 2)
ordered before key-auth (1250) answers before any key is asked for; without the rule key-auth
runs first, as its priority says."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.raw_client import raw_request

pytestmark = pytest.mark.timeout(60)


def config(port: int) -> str:
    return textwrap.dedent(f"""
    _format_version: "3.0"
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        routes:
          - name: ordered
            paths: [/ordered]
            plugins:
              - name: key-auth
              - name: request-termination
                config: {{status_code: 503, message: maintenance}}
                ordering:
                  before:
                    access: [key-auth]
          - name: static
            paths: [/static]
            plugins:
              - name: key-auth
              - name: request-termination
                config: {{status_code: 503, message: maintenance}}
    """)


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(config(module_upstream.port), name="ordering")


def get(gw, path: str):
    return raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())


def test_an_ordering_rule_runs_a_plugin_before_a_higher_priority_one(gw):
    response = get(gw, "/ordered")
    assert response.status == 503 and response.json()["message"] == "maintenance"


def test_without_a_rule_priority_decides(gw):
    response = get(gw, "/static")
    assert response.status == 401 and response.json()["message"] == "No API key found in request"
