"""Invalid declarative configs: every error at once, Kong's shapes and wording."""
from pathlib import Path

import pytest

from dataplane.declarative import DeclarativeConfigError, parse_file, parse_text

FIX = Path(__file__).parent.parent / "fixtures" / "declarative"


def fail(text, **kw) -> DeclarativeConfigError:
    with pytest.raises(DeclarativeConfigError) as info:
        parse_text(text, **kw)
    return info.value


def test_many_bad_entities_reported_at_once():
    with pytest.raises(DeclarativeConfigError) as info:
        parse_file(str(FIX / "invalid.yml"))
    e = info.value
    assert e.fields == {
        "services": [
            {"port": "value should be between 0 and 65535",
             "routes": [
                 {"@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' "
                              "when 'protocols' is 'https'"]},
                 {"paths": ["should start with: / (fixed path) or ~/ (regex path)"]},
             ]},
            {"@entity": ["uniqueness violation: 'services' entity with name set to 'bad-port' "
                         "already declared"]},
        ],
        "plugins": [
            {"name": "plugin 'not-a-plugin' not enabled; add it to the 'plugins' configuration "
                     "property"},
            {"@entity": ["invalid reference 'service: ghost' (no such entry in 'services')"]},
        ],
    }
    kinds = [(f["entity_type"], f.get("entity_name"), [x.get("field") for x in f["errors"]])
             for f in e.flattened_errors]
    assert kinds == [
        ("plugin", "not-a-plugin", ["name"]),
        ("plugin", "cors", [None]),
        ("route", "no-matcher", [None]),
        ("route", "bad-path", ["paths.1"]),
        ("service", "bad-port", ["port"]),
        ("service", "bad-port", [None]),
    ]
    route = e.flattened_errors[2]
    assert route["entity"] == {"name": "no-matcher"}
    assert route["errors"] == [{"type": "entity", "message": "must set one of 'methods', "
                                "'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"}]
    assert e.flattened_errors[4]["entity"] == {"name": "bad-port", "host": "example.com",
                                               "port": 70000}
    lines = str(e).splitlines()
    assert "service 'bad-port' (services[1]): port: value should be between 0 and 65535" in lines
    assert "route 'bad-path' (services[1].routes[2]): paths.1: should start with: / (fixed path) " \
           "or ~/ (regex path)" in lines
    assert len(lines) == 6
    assert e.message.startswith("declarative config is invalid: {plugins={{name=\"plugin ")
    body = e.to_kong_body()
    assert (body["code"], body["name"]) == (14, "invalid declarative configuration")
    assert body["fields"] == e.fields and body["flattened_errors"] == e.flattened_errors


def test_child_of_parent_with_id_gets_its_foreign_key_in_flattened_errors():
    sid = "5b1c0b5e-4b6f-4f0b-9d2a-7a5f4c1e2d3b"
    e = fail(f'_format_version: "3.0"\nservices:\n- id: {sid}\n  host: h\n  routes:\n  - name: r\n')
    (row,) = e.flattened_errors
    assert row["entity"] == {"name": "r", "service": {"id": sid}}


@pytest.mark.parametrize("text, message", [
    ('services: []\n', "required field missing"),
    ('_format_version: "2.0"\n', "expected one of: 1.1, 2.1, 3.0"),
    ('_format_version: 3.0\n', "expected a string"),
])
def test_format_version(text, message):
    assert fail(text).fields == {"_format_version": message}


def test_toplevel_errors():
    e = fail('_format_version: "3.0"\n_transform: "yes"\nvaults: []\nservices: 5\n')
    assert e.fields == {"_transform": "expected a boolean", "vaults": "unknown field",
                        "services": "expected an array"}
    assert "declarative config: _transform: expected a boolean" in str(e).splitlines()


def test_bad_yaml_reports_line_and_column():
    e = fail('_format_version: "3.0"\nservices:\n- name: a\n  host: [unclosed\n', filename="k.yml")
    assert e.fields["error"].startswith("failed parsing declarative configuration: k.yml:")
    assert ":5:" in e.fields["error"] or ":4:" in e.fields["error"]
    assert e.to_kong_body()["fields"] == e.fields
    assert fail("just a string").fields == {
        "error": "failed parsing declarative configuration: expected an object"}
    assert fail(b"\xff\xfe\x00bad", filename="k.json").fields["error"].startswith(
        "failed parsing declarative configuration")


def test_duplicates():
    e = fail('_format_version: "3.0"\nconsumers:\n- username: a\n- username: a\n'
             '- custom_id: x\n- custom_id: x\n')
    assert e.fields == {"consumers": [None, {"@entity": [
        "uniqueness violation: 'consumers' entity with username set to 'a' already declared"]},
        None, {"@entity": [
            "uniqueness violation: 'consumers' entity with custom_id set to 'x' already declared"]}]}
    sid = "5b1c0b5e-4b6f-4f0b-9d2a-7a5f4c1e2d3b"
    e = fail(f'_format_version: "3.0"\nservices:\n- id: {sid}\n  host: a\n- id: {sid}\n  host: b\n')
    assert e.fields["services"][1] == {"@entity": [
        f"uniqueness violation: 'services' entity with primary key set to '{sid}' already declared"]}
    # the same plugin twice on one service has the same cache key, hence the same id
    e = fail('_format_version: "3.0"\nservices:\n- name: s\n  host: h\n  plugins:\n'
             '  - name: cors\n  - name: cors\n')
    assert e.fields["services"][0]["plugins"][1]["@entity"][0].startswith(
        "uniqueness violation: 'plugins' entity with primary key set to '")


def test_dangling_references():
    e = fail('_format_version: "3.0"\nroutes:\n- paths: [/]\n  service: nope\n'
             'targets:\n- target: a:1\n  upstream: nowhere\n'
             'keyauth_credentials:\n- consumer: ghost\n')
    assert e.fields == {
        "routes": [{"@entity": ["invalid reference 'service: nope' (no such entry in 'services')"]}],
        "targets": [{"@entity": ["invalid reference 'upstream: nowhere' (no such entry in "
                                 "'upstreams')"]}],
        "keyauth_credentials": [{"@entity": ["invalid reference 'consumer: ghost' (no such entry "
                                             "in 'consumers')"]}],
    }


def test_nested_entities_take_no_other_references():
    e = fail('_format_version: "3.0"\nservices:\n- name: s\n  host: h\n  plugins:\n'
             '  - name: cors\n    route: r\n')
    assert e.fields == {"services": [{"plugins": [{"route": "value must be null"}]}]}


def test_wrong_shapes_inside_entities():
    e = fail('_format_version: "3.0"\nservices:\n- 5\n- name: s\n  host: h\n  routes: x\n'
             '- name: t\n  host: h\n  _comment: 5\n')
    assert e.fields == {"services": ["expected a record", {"routes": "expected an array"},
                                     {"_comment": "expected a string"}]}


def test_sparse_error_positions_become_objects():
    services = "".join(f"- name: s{i}\n  host: h\n" for i in range(30))
    e = fail(f'_format_version: "3.0"\nservices:\n{services}- name: bad\n')
    assert e.fields == {"services": {"31": {"host": "required field missing"}}}
    assert "service 'bad' (services[31]): host: required field missing" in str(e)
