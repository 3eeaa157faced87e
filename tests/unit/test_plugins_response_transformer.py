"""response-transformer's config schema with Kong's messages, its header operations and its JSON
body operations (Kong's spec/03-plugins/15-response-transformer/01-header_transformer_spec,
02-body_transformer_spec and 03-api_spec), run through dataplane.plugins.testing: remove,
rename, replace, add, append in that order."""

from __future__ import annotations

import orjson
import pytest

from dataplane.plugins import load_registry
from dataplane.plugins.bundled import response_transformer
from dataplane.plugins.testing import Headers, PluginHarness, Upstream
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


def body_after(config: dict, body: bytes | list[bytes], content_type: str = "application/json") -> tuple[bytes, Headers]:
    result = PluginHarness(response_transformer).run(
        config=config, upstream=Upstream(headers=(("Content-Type", content_type),), body=body)
    )
    return result.response.body, result.response.headers


def test_json_operations_in_kongs_order():
    config = {
        "remove": {"json": ["p1"]},
        "rename": {"json": ["p2:renamed"]},
        "replace": {"json": ["p3:new", "absent:x"]},
        "add": {"json": ["p4:added", "p3:not-again"]},
        "append": {"json": ["p5:two", "p6:first"]},
    }
    body, headers = body_after(config, [b'{"p1": "v1", "p2": "v2", ', b'"p3": "old", "p5": "one"}'])
    assert orjson.loads(body) == {"renamed": "v2", "p3": "new", "p4": "added", "p5": ["one", "two"], "p6": ["first"]}
    assert "content-length" not in headers and headers["transfer-encoding"] == "chunked"


def test_json_types_cast_values_as_kong_does():
    config = {
        "add": {"json": ["n:42", "hex:0x10", "bad:abc", "yes:true", "no:maybe", "s:7"],
                "json_types": ["number", "number", "number", "boolean", "boolean", "string"]},
    }
    body, _ = body_after(config, b"{}")
    # a number that does not read is no value: the entry adds nothing
    assert orjson.loads(body) == {"n": 42, "hex": 16, "yes": True, "no": False, "s": "7"}


def test_values_keep_quotes_and_slashes_and_an_empty_value_is_the_text_null():
    body, _ = body_after({"add": {"json": ['q:say "hi"', "url:http://a/b", "empty:"]}}, b"{}")
    assert orjson.loads(body) == {"q": 'say "hi"', "url": "http://a/b", "empty": "null"}


def test_replace_and_add_judge_existence_by_luas_truth():
    body, _ = body_after({"replace": {"json": ["f:r", "z:r"]}, "add": {"json": ["n:a"]}}, b'{"f": false, "z": 0, "n": null}')
    assert orjson.loads(body) == {"f": False, "z": "r", "n": "a"}


def test_bodies_that_are_not_json_objects_go_on_unchanged():
    assert body_after({"add": {"json": ["a:1"]}}, b"not json")[0] == b"not json"
    assert body_after({"add": {"json": ["a:1"]}}, b"[1, 2]")[0] == b"[1, 2]"
    assert body_after({"add": {"json": ["a:1"]}}, b'{"b": 1}', content_type="text/plain")[0] == b'{"b": 1}'
    assert orjson.loads(body_after({"add": {"json": ["a:1"]}}, b'{"b": 1}', "Application/JSON; charset=utf-8")[0]) == {
        "b": 1, "a": "1"}


def test_a_config_without_json_entries_leaves_bodies_and_their_length_alone():
    result = PluginHarness(response_transformer).run(
        config={"add": {"headers": ["x-a:1"]}}, upstream=Upstream(headers=(("Content-Type", "application/json"),), body=b"{}")
    )
    assert result.response.body == b"{}" and result.response.headers["content-length"] == "2"


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
