"""kong.yml -> flat config: nesting, references, ids, migration."""
import json
import uuid
from pathlib import Path

import pytest
import yaml

from dataplane.declarative import DeclarativeConfigError, parse_file, parse_text, summary
from dataplane.schema import ENTITIES, get_schema

FIX = Path(__file__).parent.parent / "fixtures" / "declarative"
ORDER = ["ca_certificates", "certificates", "snis", "services", "routes", "upstreams", "targets",
         "consumers", "keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets",
         "hmacauth_credentials", "consumer_groups", "consumer_group_consumers", "plugins"]


def by(flat, entity_type, **match):
    return [e for e in flat[entity_type] if all(e.get(k) == v for k, v in match.items())]


def one(flat, entity_type, **match):
    (found,) = by(flat, entity_type, **match)
    return found


@pytest.fixture(scope="module")
def rich():
    return parse_file(str(FIX / "rich.yml"))


def test_rich_file_shape(rich):
    assert list(rich) == ORDER
    assert summary(rich) == ("services: 2, routes: 2, upstreams: 1, targets: 2, consumers: 2, "
                             "keyauth_credentials: 2, plugins: 6")
    for entity_type, entities in rich.items():
        names = [n for n, _ in get_schema(entity_type).fields]
        for e in entities:
            assert list(e) == names  # every schema field, nothing else
            uuid.UUID(e["id"])
    json.dumps(rich)  # plain JSON data


def test_rich_file_exact_entities(rich):
    orders = one(rich, "services", name="orders")
    # Kong's uuid5 scheme: namespace uuid5(<entities ns>, "services"), key = the name
    ns = uuid.uuid5(uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5"), "services")
    assert orders == {
        "id": str(uuid.uuid5(ns, "orders")), "created_at": 1, "updated_at": 1, "name": "orders",
        "retries": 5, "protocol": "http", "host": "orders.internal", "port": 8080, "path": "/v1",
        "connect_timeout": 60000, "write_timeout": 60000, "read_timeout": 60000,
        "tags": ["team-a"], "client_certificate": None, "tls_verify": None,
        "tls_verify_depth": None, "ca_certificates": None, "enabled": True,
    }
    route = one(rich, "routes", name="orders-route")
    assert route["service"] == {"id": orders["id"]}
    assert (route["protocols"], route["paths"], route["strip_path"]) == (["http", "https"], ["/orders"], True)
    billing = one(rich, "services", name="billing")
    assert one(rich, "routes", name="billing-route")["service"] == {"id": billing["id"]}

    upstream = one(rich, "upstreams", name="orders.internal")
    targets = sorted(t["target"] for t in rich["targets"])
    assert targets == ["10.0.0.1:8000", "10.0.0.2:9000"]
    assert all(t["upstream"] == {"id": upstream["id"]} for t in rich["targets"])

    alice = one(rich, "consumers", username="alice")
    creds = rich["keyauth_credentials"]
    assert all(c["consumer"] == {"id": alice["id"]} for c in creds)
    assert creds[0]["key"] == "alice-key" and len(creds[1]["key"]) == 32
    assert one(rich, "consumers", custom_id="bob-42")["username"] is None


def test_rich_file_plugin_scopes(rich):
    orders = one(rich, "services", name="orders")["id"]
    orders_route = one(rich, "routes", name="orders-route")["id"]
    billing_route = one(rich, "routes", name="billing-route")["id"]
    alice = one(rich, "consumers", username="alice")["id"]
    scopes = {(p["name"], (p["service"] or {}).get("id"), (p["route"] or {}).get("id"),
               (p["consumer"] or {}).get("id")) for p in rich["plugins"]}
    assert scopes == {
        ("cors", None, orders_route, None), ("request-size-limiting", orders, None, None),
        ("request-termination", None, None, alice), ("key-auth", orders, None, None),
        ("correlation-id", None, None, None), ("response-transformer", None, billing_route, alice),
    }
    assert one(rich, "plugins", name="request-size-limiting")["config"] == {
        "allowed_payload_size": 10, "size_unit": "megabytes", "require_content_length": False}


def test_ids_are_deterministic_and_match_kongs_plugin_scheme(rich):
    again = parse_file(str(FIX / "rich.yml"))
    assert again == rich
    orders = one(rich, "services", name="orders")["id"]
    ns = uuid.uuid5(uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5"), "plugins")
    # nested plugin: cache key plugins:*:<name>:<route>:<service>:<consumer>, service = parent id
    assert one(rich, "plugins", name="request-size-limiting")["id"] == \
        str(uuid.uuid5(ns, f"plugins:*:request-size-limiting::{orders}:"))


def test_unnamed_entities_get_stable_position_ids():
    text = """
_format_version: "3.0"
services:
- host: a.internal
  routes:
  - paths: [/a]
  - paths: [/b]
"""
    first, second = parse_text(text), parse_text(text)
    assert first == second
    assert len({r["id"] for r in first["routes"]}) == 2


def test_given_ids_are_kept_and_referenced():
    sid = "5b1c0b5e-4b6f-4f0b-9d2a-7a5f4c1e2d3b"
    flat = parse_text(f"""
_format_version: "3.0"
services:
- id: {sid}
  host: a.internal
routes:
- paths: [/x]
  service: {sid}
- paths: [/y]
  service: {{id: {sid}}}
""")
    assert flat["services"][0]["id"] == sid
    assert [r["service"] for r in flat["routes"]] == [{"id": sid}, {"id": sid}]


def test_json_input_and_created_at_kept():
    doc = {"_format_version": "3.0",
           "services": [{"name": "s", "host": "h", "created_at": 1600000000}]}
    flat = parse_text(json.dumps(doc), filename="kong.json")
    assert flat["services"][0]["created_at"] == 1600000000
    assert flat["services"][0]["updated_at"] == 1
    assert parse_text(json.dumps(doc), filename="kong.json", timestamp=5)["services"][0]["updated_at"] == 5


def test_certificates_with_nested_snis():
    doc = {"_format_version": "3.0",
           "certificates": [{"cert": (FIX / "leaf.pem").read_text(),
                             "key": (FIX / "leaf.key").read_text(),
                             "snis": [{"name": "example.com"}, {"name": "*.example.com"}]}],
           "ca_certificates": [{"cert": (FIX / "ca.pem").read_text()}],
           "services": [{"name": "tls", "url": "https://up.internal",
                         "ca_certificates": None}]}
    flat = parse_text(yaml.safe_dump(doc))
    cert = flat["certificates"][0]
    assert cert["snis"] == ["example.com", "*.example.com"]
    assert [s["certificate"] for s in flat["snis"]] == [{"id": cert["id"]}] * 2
    assert len(flat["ca_certificates"][0]["cert_digest"]) == 64


def test_empty_and_comment_only():
    flat = parse_text('_format_version: "3.0"\n_comment: nothing here\n_transform: true\n')
    assert list(flat) == ORDER and not any(flat.values())
    assert summary(flat) == "empty configuration"
    assert parse_text('_format_version: "3.0"\nservices: {}\nroutes: ~\n')["services"] == []


def test_migration_from_2_1():
    flat = parse_file(str(FIX / "legacy-2.1.yml"))
    nested = one(flat, "routes", name="legacy-route")
    assert nested["paths"] == ["/plain/path", "~/users/\\d+", "/a.b"]
    assert one(flat, "routes", name="top")["paths"] == ["~/files/(?<name>.+)$"]


def test_migration_rule_matches_kong():
    from dataplane.declarative.migrate import migrate_path
    assert migrate_path("/a/b-c_d~e") == "/a/b-c_d~e"
    assert migrate_path("/a/%7Eb") == "/a/~b"
    assert migrate_path("/v1/.*") == "~/v1/.*"
    assert migrate_path("/x(%2E)") == "~/x(\\.)"
    assert migrate_path("/x$%2F") == "~/x$%2F"


def test_1_1_is_accepted_and_3_0_is_not_migrated():
    assert parse_text('_format_version: "1.1"\nroutes:\n- paths: ["/a.+"]\n')["routes"][0]["paths"] == ["~/a.+"]
    assert parse_text('_format_version: "3.0"\nroutes:\n- paths: ["/a.+"]\n')["routes"][0]["paths"] == ["/a.+"]


def test_only_the_plugins_the_node_runs_are_accepted():
    text = '_format_version: "3.0"\nplugins:\n- name: my-plugin\n  config: {a: 1}\n'
    with pytest.raises(DeclarativeConfigError):
        parse_text(text)
    assert parse_text(text, plugins=frozenset({"my-plugin"}))["plugins"][0]["config"] == {"a": 1}
    # one of Kong's bundled names that Gantry does not run is "not enabled", as a name the
    # node's plugins leave out
    datadog = '_format_version: "3.0"\nplugins:\n- name: datadog\n'
    with pytest.raises(DeclarativeConfigError) as refused:
        parse_text(datadog)
    assert refused.value.flattened_errors[0]["errors"] == [{
        "field": "name", "type": "field",
        "message": "plugin 'datadog' not enabled; add it to the 'plugins' configuration property"}]
    with pytest.raises(DeclarativeConfigError):
        parse_text('_format_version: "3.0"\nplugins:\n- name: cors\n', plugins=frozenset({"key-auth"}))


def test_example_conf_parses():
    flat = parse_file(str(Path(__file__).parents[2] / "conf" / "kong.yml"))
    assert len(flat["targets"]) == 2 and flat["keyauth_credentials"] and flat["plugins"]


def test_entities_table_matches_flat_order():
    assert list(ENTITIES) == ORDER


@pytest.mark.parametrize("text, expected", [
    # merge keys and `=` keys go through PyYAML's own constructor
    ('_format_version: "3.0"\nx: &base {host: a.example}\nservices:\n- {<<: *base, name: s}',
     {"host": "a.example", "name": "s"}),
    # keys equal in Python merge before they become text, as PyYAML builds them
    ('_format_version: "3.0"\nservices:\n- {name: s, host: a.example, tags: [x], '
     '1: a, true: b}', None),
])
def test_yaml_nodes_outside_the_fast_path_load_as_pyyaml_loads_them(text, expected):
    from dataplane.declarative.loader import load

    doc = load(text, "kong.yml")
    if expected is not None:
        assert {k: doc["services"][0][k] for k in expected} == expected
    else:
        assert list(doc["services"][0])[-1:] == ["1"] and doc["services"][0]["1"] == "b"
