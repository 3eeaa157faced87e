"""response-transformer's config schema with Kong's messages and its header operations (Kong's
spec/03-plugins/15-response-transformer/01-header_transformer_spec and 03-api_spec), run through
dataplane.plugins.testing: remove, rename, replace, add, append in that order."""

from __future__ import annotations

import pytest

from dataplane.plugins import load_registry
from dataplane.plugins.bundled import response_transformer
from dataplane.plugins.testing import PluginHarness, Upstream
from dataplane.schema import process

load_registry()  # registers the bundled plugins' config schemas

NAME = "response-transformer"


def config_errors(config: dict) -> object:
    return process("plugins", {"name": NAME, "config": config}, now=1)[1]


def test_defaults_are_kongs_empty_lists():
    entity, errors = process("plugins", {"name": NAME}, now=1)
    assert errors is None
    config = entity["config"]
    assert config["remove"] == {"json": [], "headers": []}
    assert config["rename"] == {"json": [], "headers": []}
    for op in ("replace", "add", "append"):
        assert config[op] == {"json": [], "json_types": [], "headers": []}


def test_schema_messages():
    for op in ("add", "replace", "append"):
        assert config_errors({op: {"headers": ["just_a_key"]}}) == {
            "config": {op: {"headers": {1: "invalid value: just_a_key"}}}
        }
    assert config_errors({"rename": {"headers": ["a:b c"]}}) == {
        "config": {"rename": {"headers": {1: "'b c' is not a valid header"}}}
    }
    assert config_errors({"add": {"headers": ["a b:v"]}}) == {
        "config": {"add": {"headers": {1: "'a b' is not a valid header"}}}
    }
    assert config_errors({"append": {"json_types": ["object"]}}) == {
        "config": {"append": {"json_types": {1: "expected one of: boolean, number, string"}}}
    }
    assert config_errors({"remove": {"headers": None}}) == {"config": {"remove": {"headers": "required field missing"}}}
    assert config_errors({"remove": {"headers": ["h1", "h2:ignored"]}, "add": {"headers": ["x:a:b"]}}) is None


@pytest.mark.parametrize("op", ["remove", "rename", "replace", "add", "append"])
def test_a_json_operation_is_refused_as_not_run_yet(op):
    entry = "p1" if op == "remove" else "p1:v1"
    assert config_errors({op: {"json": [entry]}}) == {"config": response_transformer.NO_JSON.format(f"{op}.json")}
    both = config_errors({"remove": {"json": ["a"]}, "add": {"json": ["b:1"]}})
    assert both == {"config": response_transformer.NO_JSON.format("remove.json, add.json")}
    assert "Gantry does not transform response bodies yet" in response_transformer.NO_JSON


def test_json_types_alone_transform_nothing_and_are_accepted():
    assert config_errors({"append": {"json_types": ["number"]}}) is None


def headers_after(config: dict, upstream_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    result = PluginHarness(response_transformer).run(config=config, upstream=Upstream(headers=upstream_headers))
    assert result.response.status == 200
    plain = {"content-length", "date", "connection", "server", "via", "content-type"}
    return [
        (n.lower(), v)
        for n, v in result.response.headers
        if n.lower() not in plain and not n.lower().startswith("x-kong")
    ]


def test_remove_every_value_of_each_header():
    out = headers_after(
        {"remove": {"headers": ["h1", "h2", "h3"]}}, [("h1", "value1"), ("h2", "value2a"), ("h2", "value2b")]
    )
    assert out == []


def test_replace_only_a_header_that_exists():
    out = headers_after({"replace": {"headers": ["h1:v1", "h2:value:2"]}}, [("h2", "value2a"), ("h2", "value2b")])
    assert out == [("h2", "value:2")]


def test_add_only_a_header_that_is_missing():
    assert headers_after({"add": {"headers": ["h2:v2"]}}, [("h1", "v1")]) == [("h1", "v1"), ("h2", "v2")]
    assert headers_after({"add": {"headers": ["h2:v2"]}}, [("h1", "v1"), ("H2", "v3")]) == [("h1", "v1"), ("h2", "v3")]


def test_append_adds_a_value_always():
    assert headers_after({"append": {"headers": ["h1:v2"]}}, []) == [("h1", "v2")]
    assert headers_after({"append": {"headers": ["h1:v2"]}}, [("h1", "v1")]) == [("h1", "v1"), ("h1", "v2")]


def test_rename_keeps_every_value():
    out = headers_after(
        {"rename": {"headers": ["h1:h-renamed", "absent:other"]}}, [("h1", "a"), ("h1", "b"), ("keep", "k")]
    )
    assert out == [("keep", "k"), ("h-renamed", "a"), ("h-renamed", "b")]


def test_all_together_judge_existence_by_the_headers_as_they_came():
    config = {
        "remove": {"headers": ["h1:v1"]},
        "replace": {"headers": ["h2:v3"]},
        "add": {"headers": ["h3:v3", "h1:back"]},  # h1 was there when header_filter began: not added
        "append": {"headers": ["h3:v4"]},
    }
    assert headers_after(config, [("h1", "v1"), ("h2", "v2")]) == [("h2", "v3"), ("h3", "v3"), ("h3", "v4")]


def test_an_entry_without_a_value_changes_nothing():
    config = {"replace": {"headers": ["h1:"]}, "add": {"headers": ["h2:"]}, "append": {"headers": ["h3:"]}}
    assert headers_after(config, [("h1", "v1")]) == [("h1", "v1")]
