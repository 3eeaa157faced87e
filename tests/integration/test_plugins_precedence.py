"""Kong's levels of plugin precedence through the real `dataplane run` (2 workers): one plugin
configured at every level, key-auth (global, with an anonymous consumer) identifying who calls;
each request gets the config of the highest level that applies to its route, service, consumer
and the consumer's groups. Kong's open-source eight (route+service+consumer > route+consumer >
service+consumer > route+service > consumer > route > service > global), then the twelve with
the consumer-group levels Kong Gateway 3.4+ documents (consumer+route+service > group+route+
service > consumer+route > consumer+service > group+route > group+service > route+service >
consumer > group > route > service > global), a consumer in two groups getting the config of
the group whose name sorts first."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.raw_client import raw_request

pytestmark = pytest.mark.timeout(60)

CUSTOM_PLUGINS = Path(__file__).resolve().parent.parent / "support" / "custom_plugins"  # tag.py


def config(port: int, consumers: str, plugins: str, groups: str = "") -> str:
    """Routes r1, r2, r4 on service s1 and r3 on s2, key-auth global with `anon`; `consumers`,
    `plugins` and `groups` are kong.yml list items."""
    return textwrap.dedent(f"""
    _format_version: "3.0"
    consumer_groups: [{groups}]
    consumers:
      - username: anon
    {consumers}
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
      - {{name: tag, route: r1, service: s1, config: {{tag: route+service}}}}
    {plugins}
    """)


LEVELS_CONSUMERS = """
      - username: c1
        keyauth_credentials: [{key: k1}]
      - username: c2
        keyauth_credentials: [{key: k2}]"""
LEVELS_PLUGINS = """
      - {name: tag, consumer: c1, config: {tag: consumer}}
      - {name: tag, service: s1, consumer: c2, config: {tag: service+consumer}}
      - {name: tag, route: r2, consumer: c2, config: {tag: route+consumer}}
      - {name: tag, route: r1, service: s1, consumer: c1, config: {tag: route+service+consumer}}"""

GROUPS = "{name: gold}, {name: aaa}"
GROUP_CONSUMERS = """
      - username: gold-member
        keyauth_credentials: [{key: kg}]
        groups: [{name: gold}]
      - username: two-groups
        keyauth_credentials: [{key: kgg}]
        groups: [{name: gold}, {name: aaa}]
      - username: c1
        keyauth_credentials: [{key: k1}]"""
GROUP_PLUGINS = """
      - {name: tag, consumer_group: gold, config: {tag: group}}
      - {name: tag, consumer_group: aaa, config: {tag: group-aaa}}
      - {name: tag, consumer: c1, config: {tag: consumer}}
      - {name: tag, service: s1, consumer_group: gold, config: {tag: group+service}}
      - {name: tag, route: r2, consumer_group: gold, config: {tag: group+route}}
      - {name: tag, route: r1, consumer: c1, config: {tag: route+consumer}}
      - {name: tag, route: r1, service: s1, consumer_group: gold, config: {tag: group+route+service}}"""


def _gateway(factory, text: str, name: str):
    return factory(text, conf={"plugins": "bundled,tag"}, env={"PYTHONPATH": str(CUSTOM_PLUGINS)}, name=name)


@pytest.fixture(scope="module")
def levels(module_gateway_factory, module_upstream):
    return _gateway(module_gateway_factory, config(module_upstream.port, LEVELS_CONSUMERS, LEVELS_PLUGINS), "levels")


@pytest.fixture(scope="module")
def group_levels(module_gateway_factory, module_upstream):
    text = config(module_upstream.port, GROUP_CONSUMERS, GROUP_PLUGINS, GROUPS)
    return _gateway(module_gateway_factory, text, "groups")


def assert_tag(gw, path: str, key: str | None, tag: str) -> None:
    head = f"apikey: {key}\r\n" if key else ""
    for _ in range(3):  # several connections, so that both workers answer
        response = raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: a\r\n{head}\r\n".encode())
        assert response.status == 200
        assert response.echoed_headers()["x-tag"] == [tag]


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
def test_the_highest_level_that_applies_wins(levels, path, key, tag):
    assert_tag(levels, path, key, tag)


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
def test_the_highest_level_with_consumer_groups_wins(group_levels, path, key, tag):
    assert_tag(group_levels, path, key, tag)
