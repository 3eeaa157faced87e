"""Consumer-group scoped plugins through the real `dataplane run` (2 workers): Kong's twelve
levels with the consumer-group ones (consumer+route+service > group+route+service >
consumer+route > consumer+service > group+route > group+service > route+service > consumer >
group > route > service > global), key-auth identifying who calls, and a consumer in two groups
getting the config of the group whose name sorts first."""

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
    consumer_groups:
      - name: gold
      - name: aaa
    consumers:
      - username: gold-member
        keyauth_credentials: [{{key: kg}}]
        groups: [{{name: gold}}]
      - username: two-groups
        keyauth_credentials: [{{key: kgg}}]
        groups: [{{name: gold}}, {{name: aaa}}]
      - username: c1
        keyauth_credentials: [{{key: k1}}]
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
      - {{name: tag, consumer_group: gold, config: {{tag: group}}}}
      - {{name: tag, consumer_group: aaa, config: {{tag: group-aaa}}}}
      - {{name: tag, consumer: c1, config: {{tag: consumer}}}}
      - {{name: tag, route: r1, service: s1, config: {{tag: route+service}}}}
      - {{name: tag, service: s1, consumer_group: gold, config: {{tag: group+service}}}}
      - {{name: tag, route: r2, consumer_group: gold, config: {{tag: group+route}}}}
      - {{name: tag, route: r1, consumer: c1, config: {{tag: route+consumer}}}}
      - {{name: tag, route: r1, service: s1, consumer_group: gold, config: {{tag: group+route+service}}}}
    """)


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream):
    return module_gateway_factory(
        config(module_upstream.port), conf={"plugins": "bundled,tag"}, env={"PYTHONPATH": str(CUSTOM_PLUGINS)}, name="groups"
    )


@pytest.mark.parametrize(
    ("path", "key", "tag"),
    [
        ("/r1", "kg", "group+route+service"),
        ("/r1", "kgg", "group+route+service"),  # only gold has this level: it wins over aaa's lower one
        ("/r2", "kg", "group+route"),
        ("/r4", "kg", "group+service"),
        ("/r3", "kg", "group"),
        ("/r3", "kgg", "group-aaa"),  # both groups at one level: "aaa" sorts first
        ("/r1", "k1", "route+consumer"),
        ("/r4", "k1", "consumer"),
        ("/r1", None, "route+service"),
        ("/r2", None, "route"),
        ("/r4", None, "service"),
        ("/r3", None, "global"),
    ],
)
def test_the_highest_level_that_applies_wins(gw, path, key, tag):
    head = f"apikey: {key}\r\n" if key else ""
    for _ in range(3):  # several connections, so that both workers answer
        response = raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode())
        assert response.status == 200
        assert response.echoed_headers()["x-tag"] == [tag]
