"""validate_flat: a flat config as a control plane sends it, checked before anything is stored."""

import copy
from pathlib import Path

import pytest

from dataplane.declarative import DeclarativeConfigError, parse_file, parse_text, validate_flat

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "declarative"

CERT_YML = f"""
_format_version: "3.0"
certificates:
  - cert: |
{''.join('      ' + line + chr(10) for line in (FIXTURES / 'leaf.pem').read_text().splitlines())}
    key: |
{''.join('      ' + line + chr(10) for line in (FIXTURES / 'leaf.key').read_text().splitlines())}
    snis:
      - name: example.test
ca_certificates:
  - cert: |
{''.join('      ' + line + chr(10) for line in (FIXTURES / 'ca.pem').read_text().splitlines())}
"""


@pytest.fixture
def rich():
    return parse_file(str(FIXTURES / "rich.yml"))


def errors_of(flat, **kw) -> str:
    with pytest.raises(DeclarativeConfigError) as info:
        validate_flat(flat, **kw)
    return str(info.value)


def test_flattened_configs_are_valid(rich):
    validate_flat(rich)
    validate_flat(parse_file(str(FIXTURES / "legacy-2.1.yml")))
    validate_flat(parse_text(CERT_YML))
    validate_flat({})


def test_schema_violation_is_reported_with_the_entity(rich):
    rich["services"][0]["port"] = "eighty"
    rich["routes"][0]["protocols"] = ["gopher"]
    text = errors_of(rich)
    assert "port: expected an integer" in text
    assert "protocols" in text


def test_dangling_reference(rich):
    rich["routes"][0]["service"] = {"id": "1d7f4c52-0000-4000-8000-000000000000"}
    assert "invalid reference 'service: 1d7f4c52-0000-4000-8000-000000000000' (no such entry in 'services')" in errors_of(rich)


def test_reference_in_the_wrong_shape(rich):
    route = rich["routes"][0]
    route["service"] = rich["services"][0]["id"]  # a bare id, not {"id": ...}
    assert "service.id: missing primary key" in errors_of(rich)  # the schema's message
    assert "foreign key of the form" in errors_of(rich, changed={})  # still caught unchecked


def test_ids_must_be_uuids_and_distinct(rich):
    broken = copy.deepcopy(rich)
    broken["consumers"][1]["id"] = broken["consumers"][0]["id"]
    assert "uniqueness violation: 'consumers' entity with primary key" in errors_of(broken)
    broken = copy.deepcopy(rich)
    broken["services"][0]["id"] = "svc-1"
    assert "expected a valid UUID" in errors_of(broken)
    del broken["services"][0]["id"]
    assert "required field missing" in errors_of(broken)


def test_unique_fields(rich):
    rich["services"][1]["name"] = rich["services"][0]["name"]
    assert "entity with name set to" in errors_of(rich)


def test_unknown_types_and_shapes():
    assert "unknown field" in errors_of({"widgets": []})
    assert "expected an array" in errors_of({"services": {}})
    assert "expected a record" in errors_of({"services": ["nope"]})
    with pytest.raises(DeclarativeConfigError):
        validate_flat(["services"])


def test_changed_limits_schema_checks_but_not_references(rich):
    service = rich["services"][0]
    service["port"] = "eighty"
    validate_flat(rich, changed={"routes": {r["id"] for r in rich["routes"]}})  # the service is not re-checked
    assert "port" in errors_of(rich, changed={"services": {service["id"]}})
    rich["routes"][0]["service"] = {"id": "1d7f4c52-0000-4000-8000-000000000000"}
    assert "invalid reference" in errors_of(rich, changed={})


def test_error_carries_kong_shapes(rich):
    rich["services"][0]["port"] = "eighty"
    with pytest.raises(DeclarativeConfigError) as info:
        validate_flat(rich)
    err = info.value
    assert err.fields["services"][0]["port"] == "expected an integer"
    assert err.flattened_errors[0]["entity_type"] == "service"
