"""Kong's eight levels of plugin precedence through the real `dataplane run` (2 workers): one
plugin configured at every level, key-auth (global, with an anonymous consumer) identifying
who calls; each request gets the config of the highest level that applies to its route,
service and consumer (route+service+consumer > route+consumer > service+consumer >
route+service > consumer > route > service > global)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.raw_client import raw_request

pytestmark = pytest.mark.timeout(60)

CUSTOM_PLUGINS = Path(__file__).resolve().parent.parent / "support" / "custom_plugins"  # tag.py


def config(port: int) -> str:
    return textwrap.dedent(f"""
    _format_version: "3.0"
    consumers:
      - username: c1
        keyauth_credentials: [{{key: k1}}]
      - username: c2
        keyauth_credentials: [{{key: k2}}]
      - username: anon
    services:
      - name: s1
        url: http://127.0.0.1:{port}
        routes:
          - {{name: r1, paths: [/r1]}}
          - {{name: r2, paths: [/r2]}}
          - {{name: r4, paths: [/r4]}}
      - name: s2
        url: http://127.0.0.1:{port}
        routes:
          - {{name: r3, paths: [/r3]}}
    plugins:
      - {{name: key-auth, config: {{anonymous: anon}}}}
      - {{name: tag, config: {{tag: global}}}}
      - {{name: tag, service: s1, config: {{tag: service}}}}
      - {{name: tag, route: r2, config: {{tag: route}}}}
      - {{name: tag, consumer: c1, config: {{tag: consumer}}}}
      - {{name: tag, route: r1, service: s1, config: {{tag: route+service}}}}
      - {{name: tag, service: s1, consumer: c2, config: {{tag: service+consumer}}}}
      - {{name: tag, route: r2, consumer: c2, config: {{tag: route+consumer}}}}
      - {{name: tag, route: r1, service: s1, consumer: c1, config: {{tag: route+service+consumer}}}}
    """)


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(
        config(module_upstream.port), conf={"plugins": "bundled,tag"}, env={"PYTHONPATH": str(CUSTOM_PLUGINS)}, name="levels"
    )


@pytest.mark.parametrize(
    ("path", "key", "tag"),
    [
        ("/r1", "k1", "route+service+consumer"),
        ("/r2", "k2", "route+consumer"),
        ("/r1", "k2", "service+consumer"),
        ("/r1", None, "route+service"),
        ("/r2", "k1", "consumer"),
        ("/r3", "k1", "consumer"),
        ("/r2", None, "route"),
        ("/r4", None, "service"),
        ("/r3", None, "global"),
        ("/r3", "k2", "global"),
    ],
)
def test_the_highest_level_that_applies_wins(gw, path, key, tag):
    head = f"apikey: {key}\r\n" if key else ""
    # several connections, so that both workers answer
    for _ in range(3):
        response = raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode())
        assert response.status == 200
        assert response.echoed_headers()["x-tag"] == [tag]
