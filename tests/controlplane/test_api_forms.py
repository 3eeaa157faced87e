"""Bodies as Kong's Admin API takes them besides JSON: application/x-www-form-urlencoded
(`paths[]=/a`, `paths[1]=/a`, `config.minute=5`, `service.id=...`) and multipart/form-data,
end to end; and the decoding rules on their own."""
from __future__ import annotations

import sys
import types

import pytest
import trustme

from controlplane.api.arguments import decode, key_path, nest
from dataplane.schema import BUNDLED_PLUGINS, Field, get_schema
from dataplane.schema.fields import record

# a plugin with a typed config, enabled through the conf's `plugins`: a module the registry
# imports by the plugin's name, as it would an installed one
PLUGIN = "api-form-test"
_module = types.ModuleType("api_form_test")
_module.Schema = record(("minute", Field("integer")), ("hour", Field("integer")),
                        ("names", Field("array", elements=Field("string"))))
_module.Plugin = type("Plugin", (), {"__init__": lambda self, config: None})
sys.modules[_module.__name__] = _module


@pytest.fixture(scope="module")
def conf(postgres):
    """This module's database, for a conf that enables the plugin (the `api` fixture serves it)."""
    return postgres.conf(postgres.create_database(), plugins=f"bundled,{PLUGIN}")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_form_arrays_both_syntaxes(api):
    r = api.post("/routes", data="name=r1&paths[]=/a&paths[]=/b&hosts=h.test&strip_path=false", headers=FORM)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["paths"], body["hosts"], body["strip_path"]) == (["/a", "/b"], ["h.test"], False)
    r = api.post("/routes", data="name=r2&paths[2]=/second&paths[1]=/first&regex_priority=7", headers=FORM)
    assert (r.json()["paths"], r.json()["regex_priority"]) == (["/first", "/second"], 7)


def test_form_foreign_key_and_empty_as_null(api):
    svc = api.post("/services", data={"name": "fsvc", "host": "a.test", "port": "8080"}).json()
    assert svc["port"] == 8080
    r = api.post("/routes", data={"name": "r3", "paths[]": "/c", "service.id": svc["id"]})
    assert r.json()["service"] == {"id": svc["id"]}
    r = api.patch("/services/fsvc", data={"path": ""})
    assert r.status_code == 200 and r.json()["path"] is None


def test_form_plugin_config_is_typed_from_the_plugin_schema(api):
    r = api.post("/plugins", data={"name": PLUGIN, "config.minute": "5", "config.names[]": ["a", "b"]})
    assert r.status_code == 201, r.text
    plugin = r.json()
    assert plugin["config"] == {"minute": 5, "hour": None, "names": ["a", "b"]}
    # PATCH knows the plugin from the stored entity; other config fields are kept
    r = api.patch(f"/plugins/{plugin['id']}", data={"config.hour": "2"})
    assert r.json()["config"] == {"minute": 5, "hour": 2, "names": ["a", "b"]}
    r = api.patch(f"/plugins/{plugin['id']}", data={"config.hour": "soon"})
    assert (r.status_code, r.json()["fields"]) == (400, {"config": {"hour": "expected an integer"}})


def test_multipart_fields_files_and_json_parts_as_text(api):
    ca = trustme.CA()
    leaf = ca.issue_cert("mp.test")
    files = {"cert": ("cert.pem", leaf.cert_chain_pems[0].bytes(), "application/x-pem-file"),
             "key": ("key.pem", leaf.private_key_pem.bytes(), "application/x-pem-file"),
             "tags[]": (None, "from-multipart")}
    r = api.post("/certificates", files=files)
    assert r.status_code == 201, r.text
    assert r.json()["cert"] == leaf.cert_chain_pems[0].bytes().decode()
    assert r.json()["tags"] == ["from-multipart"]
    # A part sent as application/json is text all the same, with or without a filename:
    # Kong (Lapis) gives the form decoder each part's content as a string.
    for filename in (None, "config.json"):
        r = api.post("/plugins", files={"name": (None, "cors"),
                                        "config": (filename, '{"max_age": 5}', "application/json")})
        assert r.status_code == 400 and r.json()["fields"] == {"config": "expected a record"}
    r = api.post("/services", files={"name": (None, "mp"), "host": (None, "a.test"),
                                     "port": (None, "8080", "application/json")})
    assert r.status_code == 201 and r.json()["port"] == 8080


# ------------------------------------------------------------------ decoding rules


def test_key_paths():
    assert key_path("a.b[2][]") == ["a", "b", 2, None]
    assert key_path("paths[]") == ["paths", None]
    assert key_path(".hidden") == [".hidden"] and key_path("x.") == ["x."]


def test_nesting():
    assert nest([("paths[]", "/a"), ("paths[]", "/b"), ("config.minute", "5"), ("config.hour", "6"),
                 ("service.id", "x"), ("hosts", "a"), ("hosts", "b"), ("p[2]", "y"), ("p[1]", "x"),
                 ("a.b[1].c", "z")]) == {
        "paths": ["/a", "/b"], "config": {"minute": "5", "hour": "6"}, "service": {"id": "x"},
        "hosts": ["a", "b"], "p": ["x", "y"], "a": {"b": [{"c": "z"}]}}


def test_inference_from_the_schema():
    routes = get_schema("routes")
    assert decode([("name", "x"), ("hosts", "a"), ("strip_path", "true"), ("regex_priority", "-3"),
                   ("service.id", ""), ("headers.x-v", "1"), ("snis", "")], routes, BUNDLED_PLUGINS) == {
        "name": "x", "hosts": ["a"], "strip_path": True, "regex_priority": -3,
        "service": {"id": None}, "headers": {"x-v": ["1"]}, "snis": None}
    # not numbers to Lua's tonumber either: left as given, for validation to reject
    assert decode([("port", "0x50"), ("retries", "nan")], get_schema("services"), BUNDLED_PLUGINS) == {
        "port": "0x50", "retries": "nan"}
