"""The bundled plugins' pure parts: their config schemas with Kong's messages (Kong's
spec/03-plugins/*/schema specs), address ranges, CORS origin matching (Kong's regex table of
13-cors/01-access_spec), request-transformer templates and entries, correlation-id's counter."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest

from dataplane.plugins import load_registry
from dataplane.plugins.bundled import correlation_id, cors, ip_restriction, request_size_limiting
from dataplane.plugins.bundled._common import compile_pcre, split_pair
from dataplane.plugins.bundled._template import Headers, Template, TemplateError
from dataplane.plugins.bundled.request_transformer import appended
from dataplane.schema import process

load_registry()  # registers the bundled plugins' config schemas


def config_errors(name: str, config: dict) -> object:
    return process("plugins", {"name": name, "config": config}, now=1)[1]


def filled(name: str, config: dict | None = None) -> dict:
    entity, errors = process("plugins", {"name": name, **({} if config is None else {"config": config})}, now=1)
    assert errors is None
    return entity["config"]


# ---- shared helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "pair"),
    [
        ("h1:v1", ("h1", "v1")),
        ("h2:value:2", ("h2", "value:2")),
        ("a::b", ("a", "b")),
        ("name", ("name", "")),
        ("name:", ("name", "")),
        (":value", None),
    ],
)
def test_split_pair_is_kongs_name_value_pattern(entry, pair):
    assert split_pair(entry) == pair


def test_compile_pcre_takes_pcre_named_groups():
    assert compile_pcre(r"/(?<user>\w+)").match("/bob").group("user") == "bob"
    assert compile_pcre(r"(?<!x)a").search("ba")


# ---- ip-restriction ----------------------------------------------------------------------------


def test_ip_restriction_schema_messages():
    assert config_errors("ip-restriction", {"allow": 12}) == {"config": {"allow": "expected an array"}}
    assert config_errors("ip-restriction", {"allow": ["127.0.0.1/32", "127.0.0.2/32", "hello"]}) == {
        "config": {"allow": {3: "invalid ip or cidr range: 'hello'"}}
    }
    assert config_errors("ip-restriction", {"deny": ["0.0.0.0/33", "::/129", "::1/a"]}) == {
        "config": {
            "deny": {
                1: "invalid ip or cidr range: '0.0.0.0/33'",
                2: "invalid ip or cidr range: '::/129'",
                3: "invalid ip or cidr range: '::1/a'",
            }
        }
    }
    assert config_errors("ip-restriction", {"allow": [], "deny": []}) == {
        "config": {"@entity": ["at least one of these fields must be non-empty: 'config.allow', 'config.deny'"]}
    }
    assert filled("ip-restriction", {"allow": ["::/0", "127.0.0.1/8"], "status": 403, "message": "Forbidden"})


@pytest.mark.parametrize(
    ("address", "entries", "matched"),
    [
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", ["127.0.0.2"], False),
        ("127.0.0.200", ["127.0.0.0/24"], True),
        ("127.0.1.1", ["127.0.0.0/24"], False),
        ("127.0.0.1", ["127.0.0.5/8"], True),  # host bits of a range are ignored
        ("10.1.2.3", ["0.0.0.0/0"], True),
        ("fe80::1", ["fe80::/8"], True),
        ("::1", ["::1/128"], True),
        ("::2", ["::1"], False),
        ("127.0.0.1", ["::/0"], False),  # an address never matches a range of the other family
        ("::ffff:127.0.0.1", ["127.0.0.0/8"], False),
    ],
)
def test_ip_ranges(address, entries, matched):
    assert ip_restriction.matches(ipaddress.ip_address(address), ip_restriction.networks(entries)) is matched


# ---- request-size-limiting ---------------------------------------------------------------------


def test_request_size_limiting_schema():
    assert filled("request-size-limiting") == {
        "allowed_payload_size": 128,
        "size_unit": "megabytes",
        "require_content_length": False,
    }
    assert config_errors("request-size-limiting", {"size_unit": "gigabytes"}) == {
        "config": {"size_unit": "expected one of: megabytes, kilobytes, bytes"}
    }
    assert config_errors("request-size-limiting", {"allowed_payload_size": 1.5}) == {
        "config": {"allowed_payload_size": "expected an integer"}
    }


@pytest.mark.parametrize(("unit", "limit"), [("megabytes", 2 << 20), ("kilobytes", 2 << 10), ("bytes", 2)])
def test_request_size_units(unit, limit):
    assert request_size_limiting.Plugin({"allowed_payload_size": 2, "size_unit": unit}).limit == limit


@pytest.mark.parametrize(("value", "length"), [("12", 12), (" 12 ", 12), ("12abc", None), ("", None), (None, None)])
def test_content_length_as_lua_reads_it(value, length):
    assert request_size_limiting.content_length(value) == length


# ---- correlation-id ------------------------------------------------------------------------------


def test_correlation_id_schema():
    assert filled("correlation-id") == {
        "header_name": "Kong-Request-ID",
        "generator": "uuid#counter",
        "echo_downstream": False,
    }
    assert config_errors("correlation-id", {"generator": None}) == {"config": {"generator": "required field missing"}}
    assert config_errors("correlation-id", {"generator": "random"}) == {
        "config": {"generator": "expected one of: uuid, uuid#counter, tracker"}
    }


def test_correlation_id_counter_restarts_with_a_new_uuid_in_a_new_process():
    counter = correlation_id.WorkerCounter()
    first, second = counter.next(), counter.next()
    assert first.split("#") == [first.split("#")[0], "1"] and second == first.split("#")[0] + "#2"
    counter.pid = -1  # as a forked worker finds it
    third = counter.next()
    assert third.endswith("#1") and third.split("#")[0] != first.split("#")[0]


# ---- cors ------------------------------------------------------------------------------------------


def test_cors_schema_messages():
    assert filled("cors")["methods"] == list(cors.METHODS)
    assert filled("cors", {"origins": ["*", "example.com", r".*\.example(?:-foo)?\.com"]})
    assert config_errors("cors", {"origins": [".*.example.com", "invalid_**regex"]}) == {
        "config": {"origins": {2: "'invalid_**regex' is not a valid regex"}}
    }
    assert config_errors("cors", {"methods": ["FAKE"]}) == {
        "config": {"methods": {1: "expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"}}
    }


@pytest.mark.parametrize(
    ("origin", "normalized"),
    [
        ("http://foo.test:80", ("http://foo.test", "foo.test")),
        ("https://foo.test:443", ("https://foo.test", "foo.test")),
        ("https://foo.test:8000", ("https://foo.test:8000", "foo.test")),
        ("http://user@foo.test/path", ("http://foo.test", "foo.test")),
        ("http://[::1]:8080", ("http://[::1]:8080", "::1")),
        ("foo.test", ("foo.test", "foo.test")),  # no scheme://: no host to parse
        ("foo.test:8000", ("foo.test:8000", "foo.test:8000")),
    ],
)
def test_normalize_origin(origin, normalized):
    assert cors.normalize_origin(origin) == normalized


ORIGINS = [
    "http://evil.test",
    "http://foo.test",
    "http://foo.test.evil.test",
    "http://something.foo.test",
    "http://evilfoo.test",
    "http://foo.test:80",
    "http://foo.test:8000",
    "https://foo.test:8000",
    "http://foo.test:90",
    "http://foobtest",
    "https://bar.test:1234",
]

# Kong's regex test cases: the configured origins, and the request origins they allow (as
# themselves, or as the value given); every other origin of ORIGINS is refused
REGEX_CASES = [
    (
        ["foo\\.test"],
        {
            "http://foo.test": True,
            "http://foo.test:80": "http://foo.test",
            "http://foo.test:8000": True,
            "https://foo.test:8000": True,
            "http://foo.test:90": True,
        },
    ),
    (
        ["(.*[./])?foo\\.test"],
        {
            "http://foo.test": True,
            "http://something.foo.test": True,
            "http://foo.test:80": "http://foo.test",
            "http://foo.test:8000": True,
            "https://foo.test:8000": True,
            "http://foo.test:90": True,
        },
    ),
    (["(.*[./])?foo\\.test:8000"], {"http://foo.test:8000": True, "https://foo.test:8000": True}),
    (["https://(.*[.])?foo\\.test:8000"], {"https://foo.test:8000": True}),
    (
        ["^http://(.*[.])?foo\\.test(:(80|90))?$"],
        {
            "http://foo.test": True,
            "http://something.foo.test": True,
            "http://foo.test:80": "http://foo.test",
            "http://foo.test:90": True,
        },
    ),
    (["foo.test", "bar.test"], {}),
    (
        ["http://foo.test", "https://bar.test:1234"],
        {"http://foo.test": True, "http://foo.test:80": "http://foo.test", "https://bar.test:1234": True},
    ),
    (
        ["bar.test", "foo\\.test"],
        {
            "http://foo.test": True,
            "http://foo.test:80": "http://foo.test",
            "http://foo.test:8000": True,
            "https://foo.test:8000": True,
            "http://foo.test:90": True,
        },
    ),
    (
        ["bar.test", "(.*\\.)?foo\\.test"],
        {
            "http://foo.test": True,
            "http://something.foo.test": True,
            "http://foo.test:80": "http://foo.test",
            "http://foo.test:8000": True,
            "https://foo.test:8000": True,
            "http://foo.test:90": True,
        },
    ),
    (["bar.test", "(.*[./])?foo\\.test:8000"], {"http://foo.test:8000": True, "https://foo.test:8000": True}),
    (["bar.test", "https://(.*\\.)?foo\\.test:8000"], {"https://foo.test:8000": True}),
]


@pytest.mark.parametrize(("origins", "allowed"), REGEX_CASES)
def test_cors_origins_as_kong_matches_them(origins, allowed):
    compiled = cors.Origins(origins)
    for origin in ORIGINS:
        expected = allowed.get(origin)
        assert compiled.allow(origin) == (origin if expected is True else expected), origin


@pytest.mark.parametrize("origins", [["foo.test"], ["https://bar.test:1234"]])
def test_cors_one_literal_origin_is_always_the_answer(origins):
    compiled = cors.Origins(origins)
    assert {compiled.allow(origin) for origin in [*ORIGINS, None]} == {origins[0]}


def test_cors_any_origin():
    for origins in (None, [], ["*"]):
        assert cors.Origins(origins).allow(None) == "*"
    mixed = cors.Origins(["foo.bar", "*"])
    assert mixed.allow("http://www.example.net") == "*" and mixed.allow(None) is None


def cors_kong(request_headers: dict[str, str], method: str = "GET") -> tuple[SimpleNamespace, list[tuple]]:
    """The PDK calls cors makes, recorded: (kind, name, value)."""
    calls: list[tuple] = []
    response = SimpleNamespace(
        set_header=lambda name, value: calls.append(("set", name, value)),
        add_header=lambda name, value: calls.append(("add", name, value)),
        clear_header=lambda name: calls.append(("clear", name, None)),
        exit=lambda status: calls.append(("exit", status, None)),
    )
    request = SimpleNamespace(get_header=lambda name: request_headers.get(name.lower()), get_method=lambda: method)
    return SimpleNamespace(request=request, response=response, ctx=SimpleNamespace(plugin={})), calls


def test_cors_adds_vary_to_a_response_and_sets_it_on_a_preflight():
    plugin = cors.Plugin(filled("cors", {"origins": ["example.test"]}))
    kong, calls = cors_kong({"origin": "example.test"})
    plugin.header_filter(kong)
    assert ("add", "Vary", "Origin") in calls  # the upstream's Vary stays
    kong, calls = cors_kong({"origin": "example.test", "access-control-request-method": "GET"}, "OPTIONS")
    plugin.access(kong)
    assert ("set", "Vary", "Origin") in calls and calls[-1] == ("exit", 200, None)
    assert kong.ctx.plugin["skip_response_headers"] is True


def test_cors_clears_an_upstream_allow_origin_that_does_not_match():
    plugin = cors.Plugin(filled("cors", {"origins": ["a.xxx.test", "allowed-domain.test"], "credentials": True}))
    kong, calls = cors_kong({"origin": "disallowed-domain.test"})
    plugin.header_filter(kong)
    assert ("clear", "Access-Control-Allow-Origin", None) in calls
    assert ("set", "Access-Control-Allow-Credentials", "true") in calls  # as Kong: credentials go regardless


# ---- request-transformer -------------------------------------------------------------------------


def test_request_transformer_schema_messages():
    assert filled("request-transformer")["remove"] == {"body": [], "headers": [], "querystring": []}
    assert config_errors("request-transformer", {"http_method": "HELLO!"}) == {
        "config": {"http_method": "invalid value: HELLO!"}
    }
    for op in ("add", "replace", "append"):
        assert config_errors("request-transformer", {op: {"headers": ["just_a_key"]}}) == {
            "config": {op: {"headers": {1: "invalid value: just_a_key"}}}
        }
    assert config_errors("request-transformer", {"add": {"querystring": ["uri_param2:"]}}) == {
        "config": {"add": {"querystring": {1: "key 'uri_param2' has no value"}}}
    }
    assert config_errors("request-transformer", {"rename": {"headers": ["a:b c"]}}) == {
        "config": {"rename": {"headers": {1: "'b c' is not a valid header"}}}
    }
    assert config_errors("request-transformer", {"remove": {"headers": None}}) == {
        "config": {"remove": {"headers": "required field missing"}}
    }
    assert filled("request-transformer", {"add": {"querystring": ["uri_param1:$(uri_captures.user1)", "p:value"]}})


def test_request_transformer_refuses_templates_it_cannot_evaluate():
    errors = config_errors("request-transformer", {"add": {"querystring": ["uri_param2:$(uri_captures user2)"]}})
    message = errors["config"]["add"]["querystring"][1]
    assert message.startswith("value '$(uri_captures user2)' is not in supported format, error:")
    assert config_errors("request-transformer", {"replace": {"uri": "/x/$(10 * uri_captures.user1)"}})
    assert config_errors("request-transformer", {"add": {"headers": ["x:$(require('inspect')(1))"]}})


def test_request_transformer_refuses_body_transforms():
    errors = config_errors("request-transformer", {"add": {"body": ["p1:v1"]}, "remove": {"body": ["p2"]}})
    assert errors == {
        "config": "Gantry does not transform streamed request bodies yet: remove.body, add.body must "
        "be empty (request-transformer changes the method, path, headers and query string)"
    }


def test_a_record_custom_validator_runs_once_its_fields_are_valid():
    assert config_errors("request-termination", {"message": "x", "body": "y"}) == {
        "config": ("message cannot be used with content_type or body")
    }
    assert config_errors("request-termination", {"message": "x", "body": 1}) == {
        "config": {"body": "expected a string"}
    }


def test_appended_is_kongs_append_value():
    assert (
        appended(None, "v") == ["v"]
        and appended("a", "v") == ["a", "v"]
        and appended(["a", "b"], "v") == ["a", "b", "v"]
    )


TABLES = {
    "headers": Headers({"host": "test15.test", "x-foo": ["1", "2"], "user-agent": "curl"}),
    "query_params": {"q1": "20", "flag": ""},
    "uri_captures": {0: "/user1/foo/user2/bar", 1: "foo", "user1": "foo", "user2": "bar"},
    "shared": {"my_version": "1.2.3"},
}


@pytest.mark.parametrize(
    ("source", "rendered"),
    [
        ("plain", "plain"),
        ("$(uri_captures.user1)", "foo"),
        ("/requests/user2/$(uri_captures.user2)/user1/$(uri_captures['user1'])", "/requests/user2/bar/user1/foo"),
        ("/requests$(uri_captures[0])", "/requests/user1/foo/user2/bar"),
        ("$(uri_captures.missing or 'default1')", "default1"),
        ("$(uri_captures.missing)", ""),
        ("$(headers.host)-$(headers.User_Agent)-$(headers['USER-AGENT'])", "test15.test-curl-curl"),
        ("$(headers['x-foo'][2])", "2"),
        ("$(headers['x-foo'])", "1, 2"),
        ('$(type(headers["X-Foo"]) == "table" and headers["X-Foo"][1] .. "-first" or headers["X-Foo"])', "1-first"),
        ("$(type(headers.host) ~= 'table' and 'one')", "one"),
        ("$(not headers.missing)", "true"),
        ("$(query_params.q1 .. 0)", "200"),
        ("$(shared.my_version)", "1.2.3"),
        ("$('$(uri_captures.user1)')", "$(uri_captures.user1)"),
        ("cost: $5 $(", "cost: $5 $("),  # no expression: literal text
    ],
)
def test_templates_render_as_kong_renders_them(source, rendered):
    assert Template(source).render(TABLES.__getitem__) == rendered


@pytest.mark.parametrize(
    "source",
    [
        "$(10 * uri_captures.user1)",
        "$(ERROR())",
        "$(shared.written = true)",
        "$(uri_captures user2)",
        "$(string.sub(query_params.user, 1, 3))",
        "$(foo(headers['User-Agent']))",
        "$()",
        "$(headers.)",
    ],
)
def test_templates_outside_gantrys_subset_are_refused(source):
    with pytest.raises(TemplateError):
        Template(source)


@pytest.mark.parametrize("source", ["$(headers.missing.name)", "$(headers.missing .. 'x')", "$(shared)"])
def test_templates_that_lua_cannot_evaluate_fail_per_request(source):
    with pytest.raises(TemplateError):
        Template(source).render(TABLES.__getitem__)
