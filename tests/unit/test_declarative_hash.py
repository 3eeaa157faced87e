"""Config hash (Kong's to_sorted_string + md5) and robustness against random input."""
import copy
import hashlib
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from dataplane.declarative import (EMPTY_HASH, DeclarativeConfigError, config_hash, parse_file,
                                   parse_text)
from dataplane.declarative.hashing import to_sorted_string

FIX = Path(__file__).parent.parent / "fixtures" / "declarative"
RICH = (FIX / "rich.yml").read_text()


def test_to_sorted_string_matches_kongs_rules():
    assert to_sorted_string({"b": 1, "a": [True, None]}) == b"a:true;/null/;b:1;"
    assert to_sorted_string([1, 2, 3, 4, 5, 6]) == b"1;2;3;4;5;6;"
    assert to_sorted_string([1, 2]) == b"1;2"
    assert to_sorted_string({}) == b"{}" and to_sorted_string([]) == b"{}"
    assert to_sorted_string(1.5) == b"1.5" and to_sorted_string(2.0) == b"2"


def test_empty_config_hashes():
    digest, hashes = config_hash(parse_text('_format_version: "3.0"\n'))
    assert hashes["routes"] == hashes["services"] == hashes["plugins"] == EMPTY_HASH
    rest = hashlib.md5(b"_format_version:3.0;_transform:false;").hexdigest()
    assert hashes["rest"] == rest
    assert digest == hashlib.md5((EMPTY_HASH * 5 + rest).encode()).hexdigest()


def test_hash_is_stable_across_reloads_and_entity_order():
    one = config_hash(parse_text(RICH))
    assert one == config_hash(parse_text(RICH))
    doc = yaml.safe_load(RICH)
    doc["services"].reverse()
    doc["plugins"].reverse()
    assert config_hash(parse_text(yaml.safe_dump(doc))) == one


def test_changing_one_route_changes_only_the_routes_hash():
    digest, hashes = config_hash(parse_text(RICH))
    doc = yaml.safe_load(RICH)
    doc["routes"][0]["hosts"] = ["other.example.com"]
    digest2, hashes2 = config_hash(parse_text(yaml.safe_dump(doc)))
    assert digest2 != digest
    assert {k for k in hashes if hashes[k] != hashes2[k]} == {"routes"}


def test_changing_a_consumer_changes_rest_only():
    _, hashes = config_hash(parse_text(RICH))
    doc = yaml.safe_load(RICH)
    doc["consumers"][1]["tags"] = ["x"]
    _, hashes2 = config_hash(parse_text(yaml.safe_dump(doc)))
    assert {k for k in hashes if hashes[k] != hashes2[k]} == {"rest"}


# ------------------------------------------------------------------ robustness

BASE = yaml.safe_load(RICH)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-70000, 70000),
                     st.floats(allow_nan=False), st.text(max_size=12),
                     st.sampled_from(["/", "~/(", "http://x", "svc", "orders", "10.0.0.1:99",
                                      "key-auth", "*.a.com", "GET", "tcp"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = list(_paths(BASE))
FIELD_NAMES = st.sampled_from(["name", "host", "port", "paths", "protocols", "service", "route",
                               "config", "target", "upstream", "id", "url", "snis", "headers",
                               "routes", "plugins", "targets", "keyauth_credentials", "tags",
                               "username", "consumer", "healthchecks", "_format_version"])


def _mutate(doc, path, action, key, value):
    doc = copy.deepcopy(doc)
    parent, node = None, doc
    for step in path:
        parent, node = node, node[step]
    if action == "replace" and path:
        parent[path[-1]] = value
    elif action == "delete" and path:
        del parent[path[-1]]
    elif action == "set" and isinstance(node, dict):
        node[key] = value
    elif action == "append" and isinstance(node, list):
        node.append(value)
    return doc


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), st.sampled_from(["replace", "delete", "set",
                                                                          "append"]),
                          FIELD_NAMES, _values), min_size=1, max_size=3))
def test_random_mutations_parse_or_raise_declarative_errors(mutations):
    doc = BASE
    for path, action, key, value in mutations:
        try:
            doc = _mutate(doc, path, action, key, value)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        flat = parse_text(yaml.safe_dump(doc))
    except DeclarativeConfigError as e:
        assert str(e) and e.message and isinstance(e.flattened_errors, list)
        orjson.dumps(e.to_kong_body())
    else:
        config_hash(flat)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text):
    try:
        parse_text(text)
    except DeclarativeConfigError:
        pass


def test_parse_file_reads_bytes():
    assert parse_file(str(FIX / "rich.yml"))["services"]
