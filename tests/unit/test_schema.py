"""Entity schemas: defaults, Kong's messages, entity checks."""
from pathlib import Path

import pytest

from dataplane.plugins import load_registry

from dataplane.schema import (BUNDLED_PLUGINS, Field, get_schema, process, register_plugin_config,
                              schema_json)
from dataplane.schema.fields import record

FIX = Path(__file__).parent.parent / "fixtures" / "declarative"
UID = "5b1c0b5e-4b6f-4f0b-9d2a-7a5f4c1e2d3b"


def errors(entity, data, **kw):
    return process(entity, data, now=1700000000, **kw)[1]


def test_service_defaults_are_kongs():
    svc, err = process("services", {"host": "example.com"}, now=1700000000)
    assert err is None
    assert {k: v for k, v in svc.items() if k != "id"} == {
        "created_at": 1700000000, "updated_at": 1700000000, "name": None, "retries": 5,
        "protocol": "http", "host": "example.com", "port": 80, "path": None,
        "connect_timeout": 60000, "write_timeout": 60000, "read_timeout": 60000, "tags": None,
        "client_certificate": None, "tls_verify": None, "tls_verify_depth": None,
        "ca_certificates": None, "enabled": True,
    }


@pytest.mark.parametrize("url, expected", [
    ("https://api.example.com/v1", ("https", "api.example.com", 443, "/v1")),
    ("http://api.example.com", ("http", "api.example.com", 80, None)),
    ("http://10.0.0.1:8080/", ("http", "10.0.0.1", 8080, "/")),
    ("grpcs://g.example.com:9443", ("grpcs", "g.example.com", 9443, None)),
])
def test_service_url_shorthand(url, expected):
    svc, err = process("services", {"url": url}, now=1)
    assert err is None
    assert (svc["protocol"], svc["host"], svc["port"], svc["path"]) == expected
    assert "url" not in svc


def test_service_field_messages():
    assert errors("services", {"host": "h", "port": 70000, "retries": "x", "bogus": 1,
                               "connect_timeout": 0}) == {
        "port": "value should be between 0 and 65535", "retries": "expected an integer",
        "bogus": "unknown field", "connect_timeout": "value should be between 1 and 2147483646"}
    assert errors("services", {})["host"] == "required field missing"
    assert errors("services", {"host": "h", "protocol": "ftp"})["protocol"] == \
        "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"
    assert errors("services", {"host": "h:80"}) == {"host": "must not have a port"}
    assert errors("services", {"host": "h", "path": "v1"}) == {"path": "should start with: /"}
    assert errors("services", {"host": "h", "path": "/a//b"}) == {"path": "must not have empty segments"}
    assert errors("services", {"host": "h", "name": "a b"})["name"].startswith("invalid value 'a b'")
    assert errors("services", {"url": 5}) == {"url": "expected a string"}


def test_service_conditionals():
    assert errors("services", {"host": "h", "protocol": "tcp", "path": "/x"}) == {
        "path": "value must be null",
        "@entity": ["failed conditional validation given value of field 'protocol'"]}
    assert errors("services", {"host": "h", "tls_verify": True}) == {
        "tls_verify": "value must be null",
        "@entity": ["failed conditional validation given value of field 'protocol'"]}
    assert errors("services", {"host": "h", "protocol": "https", "tls_verify": True}) is None


def test_route_needs_a_matcher():
    assert errors("routes", {"protocols": ["https"]}) == {"@entity": [
        "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]}
    assert errors("routes", {"protocols": ["http"]}) == {"@entity": [
        "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"]}
    assert errors("routes", {"protocols": ["tcp"], "destinations": [{"port": 80}]}) is None
    assert errors("routes", {"protocols": ["tls_passthrough"]}) == {"@entity": [
        "must set snis when 'protocols' is 'tls_passthrough'"]}


def test_route_snis_only_with_https():
    assert errors("routes", {"protocols": ["http"], "paths": ["/"], "snis": ["a.com"]}) == {
        "snis": "length must be 0",
        "@entity": ["'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
                    "'tls_passthrough'"]}
    assert errors("routes", {"snis": ["a.com"]}) is None


def test_route_paths():
    err = errors("routes", {"paths": ["/ok", "nope", "~/(", "/a/../b", "//x", "~/\\d+$", "/%zz"]})
    assert err == {"paths": {
        2: "should start with: / (fixed path) or ~/ (regex path)",
        3: err["paths"][3],
        4: "non-normalized path, consider use '/b' instead",
        5: "must not have empty segments",
        7: "invalid url-encoded value: '%zz'",
    }}
    assert err["paths"][3].startswith("invalid regex: '/(' (PCRE returned: ")


def test_route_protocol_specific_fields():
    assert errors("routes", {"protocols": ["tls"], "paths": ["/"], "snis": ["a.com"]}) == {
        "paths": "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"}
    route, err = process("routes", {"protocols": ["grpc"], "paths": ["/"]}, now=1)
    assert err is None and route["strip_path"] is False
    assert errors("routes", {"protocols": ["grpc"], "paths": ["/"], "strip_path": True}) == {
        "strip_path": "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"}
    assert errors("routes", {"protocols": ["http", "tcp"], "paths": ["/"]})["protocols"] == \
        "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')"
    assert errors("routes", {"paths": ["/"], "headers": {"Host": ["x"]}}) == {
        "headers": "cannot contain 'host' header, which must be specified in the 'hosts' attribute"}
    assert errors("routes", {"methods": ["get"]}) == {"methods": {1: "invalid value: get"}}
    assert errors("routes", {"hosts": ["a.*.com"]}) == {
        "hosts": {1: "invalid wildcard: must be placed at leftmost or rightmost label"}}


def test_route_sets_are_deduplicated():
    route, _ = process("routes", {"methods": ["GET", "GET"], "protocols": ["http"]}, now=1)
    assert route["methods"] == ["GET"]


def test_upstream_healthchecks_defaults_and_hash_checks():
    up, err = process("upstreams", {"name": "svc.internal"}, now=1)
    assert err is None
    active = up["healthchecks"]["active"]
    assert active["healthy"] == {"interval": 0, "http_statuses": [200, 302], "successes": 0}
    assert active["unhealthy"]["http_statuses"] == [429, 404, 500, 501, 502, 503, 504, 505]
    assert up["healthchecks"]["passive"]["unhealthy"] == {
        "http_statuses": [429, 500, 503], "tcp_failures": 0, "timeouts": 0, "http_failures": 0}
    assert up["healthchecks"]["threshold"] == 0
    assert (up["algorithm"], up["hash_on"], up["slots"]) == ("round-robin", "none", 10000)
    assert errors("upstreams", {"name": "u", "hash_on": "header"}) == {
        "hash_on_header": "required field missing",
        "@entity": ["failed conditional validation given value of field 'hash_on'"]}
    up, _ = process("upstreams", {"name": "u", "hash_on": "ip"}, now=1)
    assert up["algorithm"] == "consistent-hashing"
    assert errors("upstreams", {"name": "1.2.3.4"}) == {
        "name": "Invalid name ('1.2.3.4'); no ip addresses allowed"}
    assert errors("upstreams", {"name": "u", "healthchecks": {"active": {"timeout": -1}}}) == {
        "healthchecks": {"active": {"timeout": "value should be between 0 and 65535"}}}


@pytest.mark.parametrize("given, stored", [
    ("10.0.0.1", "10.0.0.1:8000"), ("010.000.000.001:81", "10.0.0.1:81"),
    ("example.com", "example.com:8000"), ("[::1]:99", "[0000:0000:0000:0000:0000:0000:0000:0001]:99"),
])
def test_target_normalisation(given, stored):
    target, err = process("targets", {"target": given, "upstream": {"id": UID}}, now=1)
    assert err is None and target["target"] == stored and target["weight"] == 100


def test_target_errors():
    assert errors("targets", {"target": "bad host!", "upstream": {"id": UID}}) == {
        "target": "Invalid target ('bad host!'); not a valid hostname or ip address"}
    assert errors("targets", {"target": "a"}) == {"upstream": "required field missing"}
    assert errors("targets", {"target": "a", "upstream": {"id": "x"}}) == {
        "upstream": {"id": "expected a valid UUID"}}


def test_consumer_needs_username_or_custom_id():
    assert errors("consumers", {}) == {
        "@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]}


def test_plugins():
    # a plugin the node runs that registered no config schema: its config is any object
    plugin, err = process("plugins", {"name": "my-plugin"}, now=1, plugins={"my-plugin"})
    assert err is None
    assert plugin["config"] == {} and plugin["protocols"] == ["grpc", "grpcs", "http", "https"]
    assert plugin["route"] is None and plugin["enabled"] is True and plugin["ordering"] is None
    assert errors("plugins", {"name": "my-plugin"}) == {
        "name": "plugin 'my-plugin' not enabled; add it to the 'plugins' configuration property"}
    assert errors("plugins", {"name": "my-plugin"}, extra_plugins=frozenset({"my-plugin"})) is None
    # one of Kong's bundled names that Gantry does not run is not enabled either
    assert errors("plugins", {"name": "zipkin"}) == {
        "name": "plugin 'zipkin' not enabled; add it to the 'plugins' configuration property"}
    # the node's set decides, bundled or not
    assert errors("plugins", {"name": "cors"}, plugins={"key-auth"}) == {
        "name": "plugin 'cors' not enabled; add it to the 'plugins' configuration property"}
    assert errors("plugins", {"name": "cors", "config": "x"}) == {"config": "expected a record"}
    assert errors("plugins", {"name": "cors", "ordering": {"before": {"rewrite": ["x"]}}}) == {
        "ordering": {"before": "expected one of: access"}}
    assert "key-auth" in BUNDLED_PLUGINS


def test_a_runnable_plugin_config_is_completed_with_its_defaults():
    load_registry(("bundled",))  # what every entry point does with its conf's `plugins`
    plugin, err = process("plugins", {"name": "key-auth"}, now=1)
    assert err is None and plugin["config"]["key_names"] == ["apikey"] and plugin["config"]["hide_credentials"] is False
    assert errors("plugins", {"name": "key-auth", "config": {"key_names": []}}) == {
        "config": {"key_names": "length must be at least 1"}}


def test_registered_plugin_config_schema():
    register_plugin_config("test-only", record(("size", Field("integer", default=3))))
    plugin, err = process("plugins", {"name": "test-only"}, now=1,
                          extra_plugins=frozenset({"test-only"}))
    assert err is None and plugin["config"] == {"size": 3}
    assert errors("plugins", {"name": "test-only", "config": {"size": "x"}},
                  extra_plugins=frozenset({"test-only"})) == {"config": {"size": "expected an integer"}}


def test_certificates():
    cert = (FIX / "leaf.pem").read_text()
    key = (FIX / "leaf.key").read_text()
    assert errors("certificates", {"cert": cert, "key": key}) is None
    assert errors("certificates", {"cert": "junk", "key": key})["cert"].startswith("invalid certificate")
    assert errors("certificates", {"cert": cert, "key": (FIX / "other.key").read_text()}) == {
        "@entity": ["certificate does not match key"]}
    assert errors("certificates", {"cert": cert, "key": key, "cert_alt": cert})["@entity"][0] == \
        "all or none of these fields must be set: 'cert_alt', 'key_alt'"


def test_ca_certificates():
    ca, err = process("ca_certificates", {"cert": (FIX / "ca.pem").read_text()}, now=1)
    assert err is None and len(ca["cert_digest"]) == 64
    assert errors("ca_certificates", {"cert": (FIX / "leaf.pem").read_text()}) == {"@entity": [
        'certificate does not appear to be a CA because it is missing the "CA" basic constraint']}


def test_tags_and_keyauth():
    assert errors("consumers", {"username": "a", "tags": ["ok", "no,comma"]}) == {"tags": {
        2: "invalid tag 'no,comma': expected printable ascii (except `,` and `/`) or valid utf-8 "
           "sequences"}}
    cred, err = process("keyauth_credentials", {"consumer": {"id": UID}}, now=1)
    assert err is None and len(cred["key"]) == 32


def test_schema_json_shape():
    doc = schema_json("services")
    names = [next(iter(f)) for f in doc["fields"]]
    assert names[:4] == ["id", "created_at", "updated_at", "name"]
    port = next(f["port"] for f in doc["fields"] if "port" in f)
    assert port == {"type": "integer", "required": True, "default": 80, "between": [0, 65535]}
    assert {"conditional": {"if_field": "protocol",
                            "if_match": {"one_of": ["tcp", "tls", "udp", "grpc", "grpcs"]},
                            "then_field": "path", "then_match": {"eq": None}}} in doc["entity_checks"]
    assert get_schema("routes").subschema_key == "protocols"
    for entity in ("routes", "upstreams", "plugins", "keyauth_credentials", "snis"):
        assert schema_json(entity)["fields"]


def test_a_reregistered_plugin_config_replaces_the_compiled_one():
    register_plugin_config("test-reregistered", record(("size", Field("integer"))))
    plugins = frozenset({"test-reregistered"})
    assert errors("plugins", {"name": "test-reregistered", "config": {"size": "x"}},
                  extra_plugins=plugins) == {"config": {"size": "expected an integer"}}
    register_plugin_config("test-reregistered", record(("size", Field("string"))))
    assert errors("plugins", {"name": "test-reregistered", "config": {"size": "x"}},
                  extra_plugins=plugins) is None


def test_values_remembered_valid_do_not_pass_for_equal_values_of_other_types():
    # 1 == True == 1.0 in Python: a remembered valid value must not vouch for the others
    for _ in range(2):
        assert errors("services", {"host": "a.example", "retries": 1}) is None
        assert errors("services", {"host": "a.example", "retries": True}) == {"retries": "expected an integer"}
        assert errors("services", {"host": "a.example", "tags": ["1"]}) is None
        assert errors("services", {"host": "a.example", "tags": [1]}) == {"tags": {1: "expected a string"}}
    assert errors("services", {"host": "a.example", "retries": 1.5}) == {"retries": "expected an integer"}


def test_integral_floats_are_integers_everywhere_in_an_entity():
    # 80.0 is 80 to Lua; the native core's typed entities take only the integer
    up, err = process("upstreams", {"name": "u", "slots": 100.0, "healthchecks": {"active": {
        "concurrency": 5.0, "healthy": {"http_statuses": [200.0, 302]}}}}, now=1)
    assert err is None
    active = up["healthchecks"]["active"]
    assert (up["slots"], active["concurrency"], active["healthy"]["http_statuses"]) == (100, 5, [200, 302])
    assert all(type(v) is int for v in (up["slots"], active["concurrency"], *active["healthy"]["http_statuses"]))
    route, err = process("routes", {"paths": ["/"], "regex_priority": -3.0, "created_at": 5.0}, now=1)
    assert err is None and (route["regex_priority"], route["created_at"]) == (-3, 5)
    assert type(route["regex_priority"]) is int and type(route["created_at"]) is int


@pytest.mark.parametrize("value", [2**63, -2**63 - 1, 1e19, 10**30])
def test_an_unbounded_integer_is_still_64_bit(value):
    assert errors("routes", {"paths": ["/"], "regex_priority": value}) == {
        "regex_priority": "value should be between -9223372036854775808 and 9223372036854775807"}


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_numbers_are_finite(value):
    assert errors("upstreams", {"name": "u", "healthchecks": {"threshold": value}}) == {
        "healthchecks": {"threshold": "expected a number"}}
    assert errors("routes", {"paths": ["/"], "regex_priority": value}) == {
        "regex_priority": "expected an integer"}


def test_a_null_primary_key_is_a_missing_field():
    # Kong's validate_primary_key: a null key is "required field missing", an absent one
    # (or one given as a bare string) "missing primary key"
    assert errors("consumers", {"id": None, "username": "c"}) == {"id": "required field missing"}
    assert errors("routes", {"paths": ["/"], "service": {"id": None}}) == {
        "service": {"id": "required field missing"}}
    assert errors("routes", {"paths": ["/"], "service": UID}) == {
        "service": {"id": "missing primary key"}}


def test_key_auth_ttl_is_whole_seconds():
    consumer = {"id": UID}
    cred, err = process("keyauth_credentials", {"consumer": consumer, "ttl": 60.0}, now=1)
    assert err is None and type(cred["ttl"]) is int
    assert errors("keyauth_credentials", {"consumer": consumer, "ttl": 1.5}) == {
        "ttl": "expected an integer"}
    assert errors("keyauth_credentials", {"consumer": consumer, "ttl": 100000001}) == {
        "ttl": "value should be between 0 and 100000000"}
