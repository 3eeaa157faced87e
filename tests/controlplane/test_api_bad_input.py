"""Bad input to the Admin API is a Kong-shaped 4xx and writes nothing: every entity the API
serves, every field type, given values of the wrong type, out of range or null where a value
is required, in JSON, form-urlencoded and multipart bodies, through POST, PUT, PATCH and the
nested endpoints; and bodies that cannot be entity fields at all (unparsable, too deep, too
large, not UTF-8). A random sweep checks the same for values no table lists."""
from __future__ import annotations

import http.client
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import requests
import trustme
from hypothesis import HealthCheck, given, settings, strategies as st

I64 = "value should be between -9223372036854775808 and 9223372036854775807"
INDEXED = "length must be at most 2048 bytes"
TTL = "must be an integer between 0 and 100000000"
LONG = "ab1" * 1000  # 3000 bytes: more than a unique column's or a tag's index can hold

# Every collection whose rows a bad request could have written.
COLLECTIONS = ("services", "routes", "upstreams", "consumers", "plugins", "certificates",
               "ca_certificates", "snis", "key-auths", "basic-auths", "acls", "jwts", "hmac-auths")


def _pem(ca: trustme.CA, name: str) -> dict[str, str]:
    leaf = ca.issue_cert(name)
    return {"cert": leaf.cert_chain_pems[0].bytes().decode(),
            "key": leaf.private_key_pem.bytes().decode()}


def _created(r: requests.Response) -> dict:
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture(scope="module")
def world(api) -> dict[str, Any]:
    """One entity of each kind, the parents of the nested endpoints and the targets of PATCH;
    and the PEM material valid bodies need."""
    ca = trustme.CA()
    pem = _pem(ca, "world.test")
    w: dict[str, Any] = {"pem": pem, "ca_pem": trustme.CA().cert_pem.bytes().decode()}
    w["service"] = _created(api.post("/services", json={"name": "s1", "host": "a.test"}))
    w["route"] = _created(api.post(f"/services/{w['service']['id']}/routes",
                                   json={"name": "r1", "paths": ["/r1"]}))
    w["upstream"] = _created(api.post("/upstreams", json={"name": "u1"}))
    w["target"] = _created(api.post(f"/upstreams/{w['upstream']['id']}/targets",
                                    json={"target": "t1.test:80"}))
    w["consumer"] = _created(api.post("/consumers", json={"username": "c1"}))
    w["key-auth"] = _created(api.post(f"/consumers/{w['consumer']['id']}/key-auth",
                                      json={"key": "k1"}))
    for kind, body in (("basic-auth", {"username": "b1", "password": "p"}), ("acls", {"group": "g1"}),
                       ("jwt", {"key": "j1"}), ("hmac-auth", {"username": "h1"})):
        w[kind] = _created(api.post(f"/consumers/{w['consumer']['id']}/{kind}", json=body))
    w["plugin"] = _created(api.post("/plugins", json={"name": "cors"}))
    w["certificate"] = _created(api.post("/certificates", json={**pem, "snis": ["w.test"]}))
    w["sni"] = _created(api.get("/snis/w.test"))
    w["ca_certificate"] = _created(api.post("/ca_certificates",
                                            json={"cert": ca.cert_pem.bytes().decode()}))
    return w


def snapshot(api) -> dict[str, list]:
    """Every row the API serves (targets through their upstream): equal before and after a
    refused request, or something was written."""
    out = {c: api.get(f"/{c}", params={"size": 1000}).json()["data"] for c in COLLECTIONS}
    for upstream in out["upstreams"]:
        out[f"targets of {upstream['id']}"] = api.get(
            f"/upstreams/{upstream['id']}/targets", params={"size": 1000}).json()["data"]
    return out


@dataclass(frozen=True)
class Entity:
    """How to reach one kind of entity: its collection, a valid new body, an existing one."""

    collection: Callable[[dict], str]
    base: Callable[[dict], dict]
    existing: Callable[[dict], str]
    put: Callable[[dict], str] | None = None  # PUT's path; by default a new id in `collection`
    no_put: frozenset[str] = field(default_factory=frozenset)


def _own(kind: str, collection: str) -> Callable[[dict], str]:
    return lambda w: f"/{collection}/{w[kind]['id']}"


def _credential(kind: str, base: dict) -> Entity:
    """A credential under the world's consumer, at its nested path."""
    return Entity(lambda w: f"/consumers/{w['consumer']['id']}/{kind}", lambda w: dict(base),
                  lambda w: f"/consumers/{w['consumer']['id']}/{kind}/{w[kind]['id']}")


ENTITIES: dict[str, Entity] = {
    "services": Entity(lambda w: "/services", lambda w: {"host": "new.test"},
                       _own("service", "services")),
    "routes": Entity(lambda w: "/routes", lambda w: {"paths": ["/new"]}, _own("route", "routes")),
    "routes of a service": Entity(
        lambda w: f"/services/{w['service']['id']}/routes", lambda w: {"paths": ["/new"]},
        lambda w: f"/services/{w['service']['id']}/routes/{w['route']['id']}"),
    "upstreams": Entity(lambda w: "/upstreams", lambda w: {"name": "new-u"},
                        _own("upstream", "upstreams")),
    # Kong's PUT on a target updates the one named (kong/api/routes/upstreams.lua)
    "targets": Entity(
        lambda w: f"/upstreams/{w['upstream']['id']}/targets", lambda w: {"target": "new.test:80"},
        lambda w: f"/upstreams/{w['upstream']['id']}/targets/{w['target']['id']}",
        put=lambda w: f"/upstreams/{w['upstream']['id']}/targets/{w['target']['id']}"),
    "consumers": Entity(lambda w: "/consumers", lambda w: {"username": "new-c"},
                        _own("consumer", "consumers")),
    "key-auth": Entity(
        lambda w: f"/consumers/{w['consumer']['id']}/key-auth", lambda w: {"key": "new-k"},
        lambda w: f"/consumers/{w['consumer']['id']}/key-auth/{w['key-auth']['id']}"),
    **{kind: _credential(kind, base) for kind, base in (
        ("basic-auth", {"username": "new-b", "password": "p"}), ("acls", {"group": "new-g"}),
        ("jwt", {"key": "new-j"}), ("hmac-auth", {"username": "new-h"}))},
    "plugins": Entity(lambda w: "/plugins", lambda w: {"name": "key-auth"},
                      _own("plugin", "plugins")),
    "certificates": Entity(lambda w: "/certificates", lambda w: dict(w["pem"]),
                           _own("certificate", "certificates")),
    "snis": Entity(lambda w: "/snis",
                   lambda w: {"name": "new.test", "certificate": {"id": w["certificate"]["id"]}},
                   _own("sni", "snis")),
    "ca_certificates": Entity(lambda w: "/ca_certificates", lambda w: {"cert": w["ca_pem"]},
                              _own("ca_certificate", "ca_certificates")),
}

ALL = tuple(ENTITIES)
WITH_TAGS = ALL
WITH_INTEGER_CREATED_AT = tuple(e for e in ALL if e != "targets")  # a target's is a number


@dataclass(frozen=True)
class Case:
    entity: str
    field: str
    value: Any
    error: Any  # the field's entry in Kong's `fields` (or `options`, for code 11)
    methods: tuple[str, ...] = ("POST", "PUT", "PATCH")
    code: int = 2
    message: str | None = None  # when the entry is nested past what `kong_message` spells
    extra: dict = field(default_factory=dict)  # other fields the body needs

    def __str__(self) -> str:
        return f"{self.entity}.{self.field}={self.value!r:.40}"


def _each(entities: tuple[str, ...], field_name: str, value: Any, error: Any, **kw: Any) -> list[Case]:
    return [Case(e, field_name, value, error, **kw) for e in entities]


HTTPS = {"protocol": "https"}
POST_ONLY = ("POST",)  # a PUT takes its id from the path, a PATCH ignores one in the body

CASES: list[Case] = [
    # every entity: the primary key, the timestamps, the tags
    *_each(ALL, "id", None, "required field missing", methods=POST_ONLY),
    *_each(ALL, "id", "not-a-uuid", "expected a valid UUID", methods=POST_ONLY),
    *_each(ALL, "id", 5, "expected a string", methods=POST_ONLY),
    *_each(ALL, "id", ["x"], "expected a string", methods=POST_ONLY),
    *_each(WITH_INTEGER_CREATED_AT, "created_at", 1.5, "expected an integer"),
    *_each(WITH_INTEGER_CREATED_AT, "created_at", 2**63, I64),
    *_each(WITH_INTEGER_CREATED_AT, "created_at", "now", "expected an integer"),
    Case("targets", "created_at", "now", "expected a number"),
    *_each(WITH_TAGS, "tags", "t", "expected a set"),
    *_each(WITH_TAGS, "tags", {"t": 1}, "expected a set"),
    *_each(WITH_TAGS, "tags", [1], ["expected a string"]),
    *_each(WITH_TAGS, "tags", [None], ["required field missing"]),
    *_each(WITH_TAGS, "tags", [LONG], [INDEXED]),
    # services: integers, booleans, strings, arrays, a foreign key, a shorthand
    Case("services", "port", 1.5, "expected an integer"),
    Case("services", "port", 70000, "value should be between 0 and 65535"),
    Case("services", "port", -1, "value should be between 0 and 65535"),
    Case("services", "port", 10**30, "value should be between 0 and 65535"),
    Case("services", "port", 2**64 + 1, "value should be between 0 and 65535"),
    Case("services", "port", "80", "expected an integer"),
    Case("services", "port", True, "expected an integer"),
    Case("services", "port", None, "required field missing"),
    Case("services", "retries", 2.5, "expected an integer"),
    Case("services", "retries", 2**63, "value should be between 0 and 32767"),
    Case("services", "connect_timeout", 0, "value should be between 1 and 2147483646"),
    Case("services", "read_timeout", 2**31, "value should be between 1 and 2147483646"),
    Case("services", "write_timeout", 1000.5, "expected an integer"),
    # (TLS settings on an http service fail Kong's conditional checks whatever their value)
    Case("services", "tls_verify_depth", 0.5, "expected an integer", extra=HTTPS),
    Case("services", "host", None, "required field missing"),
    Case("services", "host", 5, "expected a string"),
    Case("services", "host", ["a.test"], "expected a string"),
    Case("services", "host", {"a": 1}, "expected a string"),
    Case("services", "name", 5, "expected a string"),
    Case("services", "name", LONG, INDEXED),
    Case("services", "protocol", None, "required field missing"),
    Case("services", "protocol", ["http"], "expected a string"),
    Case("services", "enabled", "true", "expected a boolean"),
    Case("services", "enabled", 1, "expected a boolean"),
    Case("services", "enabled", None, "required field missing"),
    Case("services", "tls_verify", "yes", "expected a boolean", extra=HTTPS),
    Case("services", "ca_certificates", "x", "expected an array", extra=HTTPS),
    Case("services", "ca_certificates", [None], ["required field missing"], extra=HTTPS),
    Case("services", "url", 5, "expected a string"),
    Case("services", "url", ["http://a.test"], "expected a string"),
    # routes, top-level and nested under a service
    *[c for e in ("routes", "routes of a service") for c in (
        Case(e, "regex_priority", 1.5, "expected an integer"),
        Case(e, "regex_priority", 2**63, I64),
        Case(e, "regex_priority", -2**64, I64),
        Case(e, "regex_priority", 1e300, I64),
        Case(e, "regex_priority", "1", "expected an integer"),
        Case(e, "https_redirect_status_code", 301.5, "expected an integer"),
        Case(e, "paths", "/p", "expected an array"),
        Case(e, "paths", [1], ["expected a string"]),
        Case(e, "paths", [None], ["required field missing"]),
        Case(e, "paths", {"p": "/p"}, "expected an array"),
        Case(e, "hosts", {"a": 1}, "expected an array"),
        Case(e, "methods", "GET", "expected a set"),
        Case(e, "strip_path", "yes", "expected a boolean"),
        Case(e, "strip_path", None, "required field missing"),
        Case(e, "preserve_host", 0, "expected a boolean"),
        Case(e, "protocols", None, "required field missing"),
        Case(e, "protocols", "http", "expected a set"),
        Case(e, "headers", "x-a", "expected a map"),
        Case(e, "headers", {"x-a": "b"}, "expected an array"),
        Case(e, "headers", {"x-a": [None]}, ["required field missing"]),
        Case(e, "name", LONG, INDEXED),
    )],
    Case("routes", "service", "s1", {"id": "missing primary key"}),
    Case("routes", "service", {"id": None}, {"id": "required field missing"}),
    Case("routes", "service", {"id": "x"}, {"id": "expected a valid UUID"}),
    Case("routes", "service", {"id": 5}, {"id": "expected a string"}),
    # upstreams: integers and numbers deep in the healthchecks record
    Case("upstreams", "slots", 100.5, "expected an integer"),
    Case("upstreams", "slots", 9, "value should be between 10 and 65536"),
    Case("upstreams", "slots", 10**30, "value should be between 10 and 65536"),
    Case("upstreams", "name", None, "required field missing"),
    Case("upstreams", "name", 5, "expected a string"),
    Case("upstreams", "name", LONG, INDEXED),
    Case("upstreams", "use_srv_name", "no", "expected a boolean"),
    Case("upstreams", "healthchecks", "x", "expected a record"),
    Case("upstreams", "healthchecks", {"active": {"timeout": "1"}},
         {"active": {"timeout": "expected a number"}},
         message='healthchecks.active: {timeout="expected a number"}'),
    Case("upstreams", "healthchecks", {"active": {"concurrency": 1.5}},
         {"active": {"concurrency": "expected an integer"}},
         message='healthchecks.active: {concurrency="expected an integer"}'),
    Case("upstreams", "healthchecks", {"threshold": 101}, {"threshold": "value should be between 0 and 100"}),
    Case("upstreams", "healthchecks", {"active": "x"}, {"active": "expected a record"}),
    # targets
    Case("targets", "weight", 1.5, "expected an integer"),
    Case("targets", "weight", 70000, "value should be between 0 and 65535"),
    Case("targets", "weight", "1", "expected an integer"),
    Case("targets", "target", None, "required field missing"),
    Case("targets", "target", 5, "expected a string"),
    # consumers
    Case("consumers", "username", 5, "expected a string"),
    Case("consumers", "username", ["c"], "expected a string"),
    Case("consumers", "username", LONG, INDEXED),
    Case("consumers", "custom_id", {"a": 1}, "expected a string"),
    Case("consumers", "custom_id", LONG, INDEXED),
    # key-auth credentials: the ttl is Kong's DAO option, code 11
    *[Case("key-auth", "ttl", v, TTL, code=11) for v in (1.5, -1, 10**9, "60", True, [60])],
    Case("key-auth", "key", 5, "expected a string"),
    Case("key-auth", "key", LONG, INDEXED),
    # the other credentials
    *[c for e, name in (("basic-auth", "username"), ("hmac-auth", "username")) for c in (
        Case(e, name, None, "required field missing"),
        Case(e, name, 5, "expected a string"),
        Case(e, name, "", "length must be at least 1"),
        Case(e, name, LONG, INDEXED),
    )],
    Case("basic-auth", "password", None, "required field missing"),
    Case("basic-auth", "password", 5, "expected a string"),
    Case("basic-auth", "password", ["p"], "expected a string"),
    Case("acls", "group", None, "required field missing"),
    Case("acls", "group", {"g": 1}, "expected a string"),
    Case("acls", "group", LONG, INDEXED),
    Case("jwt", "key", 5, "expected a string"),
    Case("jwt", "key", LONG, INDEXED),
    Case("jwt", "secret", 5, "expected a string"),
    Case("jwt", "rsa_public_key", ["k"], "expected a string"),
    Case("jwt", "algorithm", "none", "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, "
                                     "ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"),
    Case("hmac-auth", "secret", True, "expected a string"),
    # plugins
    Case("plugins", "name", None, "required field missing"),
    Case("plugins", "name", ["key-auth"], "expected a string"),
    Case("plugins", "enabled", "true", "expected a boolean"),
    Case("plugins", "enabled", None, "required field missing"),
    Case("plugins", "config", "x", "expected a record"),
    Case("plugins", "config", None, "required field missing"),
    Case("plugins", "protocols", "http", "expected a set"),
    Case("plugins", "protocols", None, "required field missing"),
    Case("plugins", "service", {"id": None}, {"id": "required field missing"}),
    Case("plugins", "route", "r1", {"id": "missing primary key"}),
    Case("plugins", "instance_name", 5, "expected a string"),
    Case("plugins", "ordering", "x", "expected a record"),
    # certificates (a lone `snis` name is a list to Kong's PUT and PATCH)
    Case("certificates", "cert", None, "required field missing"),
    Case("certificates", "cert", 5, "expected a string"),
    Case("certificates", "key", ["k"], "expected a string"),
    Case("certificates", "snis", "x", "expected an array", methods=POST_ONLY),
    Case("certificates", "snis", [1], ["expected a string"]),
    Case("certificates", "snis", [None], ["required field missing"]),
    Case("certificates", "snis", {"a": 1}, "expected an array"),
    # snis
    Case("snis", "name", None, "required field missing"),
    Case("snis", "name", 5, "expected a string"),
    Case("snis", "certificate", None, "required field missing"),
    Case("snis", "certificate", {"id": None}, {"id": "required field missing"}),
    Case("snis", "certificate", "x", {"id": "missing primary key"}),
    # ca_certificates
    Case("ca_certificates", "cert", None, "required field missing"),
    Case("ca_certificates", "cert", 5, "expected a string"),
    Case("ca_certificates", "cert", [], "expected a string"),
]


def kong_message(name: str, error: Any) -> str:
    """Kong's schema violation text for one field's error (kong/db/errors.lua): arrays of
    errors by position, records by field."""
    if isinstance(error, list):
        (msg,) = error
        return f"{name}.1: {msg}"
    if isinstance(error, dict):
        ((sub, msg),) = error.items()
        return f"{name}.{sub}: {msg}"
    return f"{name}: {error}"


def request_for(case: Case, method: str, w: dict) -> tuple[str, dict]:
    ent = ENTITIES[case.entity]
    if method == "PATCH":
        return ent.existing(w), {**case.extra, case.field: case.value}
    body = {**ent.base(w), **case.extra, case.field: case.value}
    if method == "POST":
        return ent.collection(w), body
    path = ent.put(w) if ent.put else f"{ent.collection(w)}/{uuid.uuid4()}"
    return path, body


def assert_refused(r: requests.Response, case: Case) -> None:
    if case.code == 11:
        assert (r.status_code, r.json()) == (400, {
            "code": 11, "name": "invalid options",
            "message": f"invalid option ({case.field}: {case.error})",
            "options": {case.field: case.error}}), r.text
        return
    assert r.status_code == 400, r.text
    body = r.json()
    assert (body["code"], body["name"]) == (2, "schema violation"), body
    assert body["fields"] == {case.field: case.error}, body
    shown = case.message or kong_message(case.field, case.error)
    assert body["message"] == f"schema violation ({shown})", body


@pytest.mark.parametrize("case,method", [(c, m) for c in CASES for m in c.methods],
                         ids=lambda v: str(v))
def test_a_bad_field_is_a_schema_violation_and_writes_nothing(api, world, case, method):
    before = snapshot(api)
    path, body = request_for(case, method, world)
    assert_refused(api.request(method, path, json=body), case)
    assert snapshot(api) == before


# ------------------------------------------------------------------ form bodies

FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# (entity, form pairs added to a valid body, the field, its error): values typed from the
# schema as Kong's form decoder does, then refused as their JSON equivalents
FORM_CASES = [
    ("services", "port=1.5", "port", "expected an integer"),
    ("services", "port=70000", "port", "value should be between 0 and 65535"),
    ("services", "port=99999999999999999999999", "port", "value should be between 0 and 65535"),
    ("services", "port=eighty", "port", "expected an integer"),
    ("services", "enabled=maybe", "enabled", "expected a boolean"),
    ("services", "id=", "id", "required field missing"),  # "" is null to Kong
    ("routes", "regex_priority=1e400", "regex_priority", "expected an integer"),
    ("routes", "regex_priority=99999999999999999999999", "regex_priority", I64),
    ("routes of a service", "strip_path=1", "strip_path", "expected a boolean"),
    ("upstreams", "healthchecks.threshold=1e400", "healthchecks",
     {"threshold": "expected a number"}),
    ("targets", "weight=0.5", "weight", "expected an integer"),
    ("consumers", "tags[1]=" + LONG, "tags", [INDEXED]),
    ("key-auth", "ttl=1.5", "ttl", TTL),
    ("jwt", "algorithm=HS1", "algorithm", "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, "
                                          "ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"),
]


def _form_body(entity: str, extra: str, w: dict) -> str:
    from urllib.parse import urlencode

    base = {k: v for k, v in ENTITIES[entity].base(w).items() if not isinstance(v, (list, dict))}
    lists = "&".join(f"{k}[]={v[0]}" for k, v in ENTITIES[entity].base(w).items() if isinstance(v, list))
    return "&".join(p for p in (urlencode(base), lists, extra) if p)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
@pytest.mark.parametrize("entity,extra,name,error,method", [
    (*c, m) for c in FORM_CASES for m in (POST_ONLY if c[2] == "id" else ("POST", "PUT", "PATCH"))
], ids=lambda v: str(v)[:30])
def test_a_bad_form_field_is_refused_as_its_json_equivalent(api, world, entity, extra, name,
                                                             error, method, encoding):
    ent = ENTITIES[entity]
    if method == "PATCH":
        path, text = ent.existing(world), extra
    else:
        text = _form_body(entity, extra, world)
        path = ent.collection(world) if method == "POST" else (
            ent.put(world) if ent.put else f"{ent.collection(world)}/{uuid.uuid4()}")
    before = snapshot(api)
    if encoding == "urlencoded":
        r = api.request(method, path, data=text, headers=FORM)
    else:
        from urllib.parse import parse_qsl

        parts = [(k, (None, v)) for k, v in parse_qsl(text, keep_blank_values=True)]
        r = api.request(method, path, files=parts)
    code = 11 if name == "ttl" else 2
    assert_refused(r, Case(entity, name, None, error, code=code))
    assert snapshot(api) == before


# ------------------------------------------------------------------ bodies that are no fields


def _nested(depth: int) -> str:
    """A plugin body whose `config` makes the whole body `depth` levels deep (the body is
    refused as too deep before its plugin name or config is looked at)."""
    inner = depth - 1
    return '{"name":"cors","config":' + '{"a":' * (inner - 1) + "{}" + "}" * (inner - 1) + "}"


JSON = {"Content-Type": "application/json"}
CANNOT_PARSE = {"message": "Cannot parse JSON body"}

# (what, collection, body, headers, status, answer)
BODY_CASES = [
    ("unparsable", "/services", b'{"host":', JSON, 400, CANNOT_PARSE),
    ("trailing garbage", "/services", b'{"host":"a.test"} x', JSON, 400, CANNOT_PARSE),
    ("an array", "/services", b'[{"host":"a.test"}]', JSON, 400, CANNOT_PARSE),
    ("null", "/services", b"null", JSON, 400, CANNOT_PARSE),
    ("a string", "/services", b'"a.test"', JSON, 400, CANNOT_PARSE),
    ("empty JSON", "/services", b"", JSON, 400, CANNOT_PARSE),
    ("infinity", "/routes", b'{"paths":["/i"],"regex_priority":1e400}', JSON, 400, CANNOT_PARSE),
    ("NaN", "/routes", b'{"paths":["/i"],"regex_priority":NaN}', JSON, 400, CANNOT_PARSE),
    ("non-UTF-8 JSON", "/consumers", b'{"username":"\xff"}', JSON, 400, CANNOT_PARSE),
    ("lone surrogate", "/consumers", b'{"username":"\\ud800"}', JSON, 400, CANNOT_PARSE),
    ("101 levels", "/plugins", _nested(101).encode(), JSON, 400, CANNOT_PARSE),
    ("100000 nested arrays", "/plugins",
     b'{"name":"key-auth","config":{"a":' + b"[" * 100000 + b"]" * 100000 + b"}}", JSON, 400,
     CANNOT_PARSE),
    ("non-UTF-8 form", "/consumers", b"username=\xff", FORM, 400,
     {"message": "Cannot parse form body: invalid UTF-8"}),
    ("non-UTF-8 escape", "/consumers", b"username=%C3%28", FORM, 400,
     {"message": "Cannot parse form body: invalid UTF-8"}),
    ("deep form name", "/plugins", b"name=key-auth&config" + b"[1]" * 3000 + b"=1", FORM, 400,
     {"message": "Cannot parse form body: names nest deeper than 100 levels"}),
    ("deep dotted name", "/plugins", b"name=key-auth&config" + b".a" * 3000 + b"=1", FORM, 400,
     {"message": "Cannot parse form body: names nest deeper than 100 levels"}),
    ("unknown type", "/services", b"host=a.test", {"Content-Type": "text/plain"}, 415,
     {"message": "Unsupported Media Type"}),
    ("no type", "/services", b'{"host":"a.test"}', {}, 415, {"message": "Unsupported Media Type"}),
    ("11 MB", "/services", b'{"host":"a.test","tags":["' + b"t" * (11 * 1024 * 1024) + b'"]}',
     JSON, 413, {"message": "Payload too large"}),
]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("what,collection,body,headers,status,answer", BODY_CASES,
                         ids=[c[0] for c in BODY_CASES])
def test_a_body_that_is_no_fields_is_refused(api, world, what, collection, body, headers,
                                             status, answer, method):
    path = {"POST": collection, "PUT": f"{collection}/{uuid.uuid4()}",
            "PATCH": f"/services/{world['service']['id']}"}[method]
    before = snapshot(api)
    r = api.request(method, path, data=body, headers=headers)
    assert (r.status_code, r.json()) == (status, answer)
    assert snapshot(api) == before


def test_100_levels_is_still_a_body(api):
    # parsed, so judged by the schema: cors has no field `a` (a plugin whose config takes any
    # object would be stored, but every plugin the node runs has a config schema)
    r = api.post("/plugins", data=_nested(100), headers=JSON)
    assert (r.status_code, r.json()["name"], list(r.json()["fields"]["config"])) == (400, "schema violation", ["a"])


def test_a_multipart_part_that_is_not_utf8_is_refused(api):
    before = snapshot(api)
    for part in ((None, b"\xffc"), ("name.txt", b"\xffc")):
        r = api.post("/consumers", files={"username": part})
        assert (r.status_code, r.json()) == (400, {"message": "Cannot parse form body: invalid UTF-8"})
    assert snapshot(api) == before


def test_a_chunked_body_past_the_limit_is_413(api):
    def chunks():
        yield b'{"host":"a.test","tags":["'
        for _ in range(11):
            yield b"t" * (1024 * 1024)
        yield b'"]}'

    before = snapshot(api)
    r = api.post("/services", data=chunks(), headers=JSON)  # no Content-Length: chunked
    assert (r.status_code, r.json()) == (413, {"message": "Payload too large"})
    assert snapshot(api) == before


def test_two_content_types_are_refused(api):
    before = snapshot(api)
    body = b'{"host":"a.test"}'
    host, port = api.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:  # http.client, unlike requests, sends a header twice
        connection.putrequest("POST", "/services")
        for _ in range(2):
            connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        r = connection.getresponse()
        answer = (r.status, json.loads(r.read()))
    finally:
        connection.close()
    assert answer == (400, {"message": "Multiple Content-Type headers not allowed"})
    assert snapshot(api) == before


@pytest.mark.parametrize("method,path", [
    ("PUT", "/consumers/%FF"), ("PUT", "/services/%C3%28"), ("PATCH", "/services/%FF"),
    ("POST", "/services/%FF/routes"), ("GET", "/consumers/%FF")])
def test_a_path_that_is_not_utf8_is_refused(api, method, path):
    # decoded with replacement characters it would name (and a PUT create) "\ufffd"
    before = snapshot(api)
    r = api.request(method, path, json={"host": "a.test", "paths": ["/x"]})
    assert (r.status_code, r.json()) == (400, {"message": "Bad request: the path is not UTF-8"})
    assert snapshot(api) == before


def test_integral_floats_are_stored_as_integers(api):
    # 80.0 is 80 to Kong (Lua numbers); the native core's typed entities accept only the latter
    svc = _created(api.post("/services", json={"host": "f.test", "port": 8080.0, "retries": 3.0}))
    assert (svc["port"], svc["retries"]) == (8080, 3)
    assert isinstance(svc["port"], int) and isinstance(svc["retries"], int)
    patched = _created(api.patch(f"/services/{svc['id']}", json={"connect_timeout": 1e3}))
    assert patched["connect_timeout"] == 1000 and isinstance(patched["connect_timeout"], int)
    assert api.delete(f"/services/{svc['id']}").status_code == 204


# ------------------------------------------------------------------ a random sweep

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)

_FIELDS = {
    "services": ("id", "name", "retries", "protocol", "host", "port", "path", "connect_timeout",
                 "tags", "client_certificate", "tls_verify", "ca_certificates", "enabled", "url"),
    "routes of a service": ("id", "name", "protocols", "https_redirect_status_code", "strip_path",
                            "tags", "service", "snis", "sources", "methods", "hosts", "paths",
                            "headers", "regex_priority", "path_handling"),
    "upstreams": ("id", "name", "algorithm", "hash_on", "hash_on_cookie_path", "slots",
                  "healthchecks", "host_header", "client_certificate", "use_srv_name"),
    "targets": ("id", "created_at", "upstream", "target", "weight", "tags"),
    "consumers": ("id", "username", "custom_id", "tags", "created_at"),
    "key-auth": ("id", "consumer", "key", "ttl", "tags"),
    "basic-auth": ("id", "consumer", "username", "password", "tags"),
    "acls": ("id", "consumer", "group", "tags"),
    "jwt": ("id", "consumer", "key", "secret", "rsa_public_key", "algorithm", "tags"),
    "hmac-auth": ("id", "consumer", "username", "secret", "tags"),
    "plugins": ("id", "name", "instance_name", "route", "service", "consumer", "config",
                "protocols", "enabled", "ordering"),
    "certificates": ("id", "cert", "key", "cert_alt", "key_alt", "snis", "tags"),
    "snis": ("id", "name", "certificate", "tags"),
    "ca_certificates": ("id", "cert", "cert_digest", "tags"),
}
_TARGETS = [(e, f) for e, fields in _FIELDS.items() for f in fields]


def _remove(api, r: requests.Response) -> None:
    """Undo a write the sweep's value happened to make valid."""
    if r.status_code in (200, 201) and r.request.method != "PATCH":
        created = r.json()
        path = r.request.path_url.split("?")[0]
        if r.request.method == "POST":
            path = f"{path}/{created['id']}"
        api.delete(path)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(target=st.sampled_from(_TARGETS), value=_json,
       method=st.sampled_from(["POST", "PUT", "PATCH"]))
def test_random_values_never_500_and_a_refusal_writes_nothing(api, world, target, value, method):
    entity, name = target
    if method == "PUT" and ENTITIES[entity].put is not None:
        method = "PATCH"  # a target's PUT updates the world's target: as a PATCH would
    before = snapshot(api)
    path, body = request_for(Case(entity, name, value, None), method, world)
    r = api.request(method, path, json=body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert snapshot(api) == before, r.text
    else:
        _remove(api, r)
