"""Kong's DB-less Admin API through a real `dataplane run` (database = off, 2 workers): the
read-only endpoints answer as the control plane's Admin API answers for the same
configuration (compared path by path with one on PostgreSQL holding it), writes are Kong's
405 (kong/db/strategies/off), and `/config` reads and replaces the configuration the proxy
routes by (kong/api/routes/config.lua, spec/02-integration/04-admin_api/15-off_spec.lua)."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import trustme
import yaml

from controlplane.api.config import export_yaml
from controlplane.api.resources import COLLECTION, ENDPOINTS, ENTITY
from controlplane.cli import with_db
from dataplane.declarative import parse_text
from tests.support.admin_api import AdminApi
from tests.support.configs import config
from tests.support.dbless_admin import DblessAdmin
from tests.support.processes import Gateway
from tests.support.waiting import wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "declarative"


def _indented(path: Path, spaces: int) -> str:
    return textwrap.indent(path.read_text(), " " * spaces).lstrip()


RICH = f"""
_format_version: "3.0"
services:
- name: orders
  url: http://127.0.0.1:9/v1
  tags: [team-a, shop]
  routes:
  - name: orders-route
    paths: [/orders]
    tags: [shop]
    plugins:
    - name: cors
  - name: orders-admin
    paths: [/orders/admin]
  plugins:
  - name: request-size-limiting
    config: {{allowed_payload_size: 10}}
- name: billing
  host: billing.internal
  tags: [team-b]
routes:
- name: billing-route
  service: billing
  hosts: [billing.example.com]
upstreams:
- name: billing.internal
  tags: [team-b]
  targets:
  - target: 10.0.0.1
  - target: 10.0.0.2:9000
    weight: 10
consumers:
- username: alice
  custom_id: alice-1
  tags: [team-a]
  keyauth_credentials:
  - key: alice-key
  basicauth_credentials:
  - username: alice
    password: alice-password
  acls:
  - group: admins
  - group: readers
  jwt_secrets:
  - key: alice-jwt
    secret: alice-jwt-secret
  hmacauth_credentials:
  - username: alice-hmac
    secret: alice-hmac-secret
  plugins:
  - name: request-termination
- username: bob
  groups:
  - name: gold
consumer_groups:
- name: gold
  tags: [tier]
plugins:
- name: key-auth
  service: orders
- name: correlation-id
- name: response-transformer
  route: billing-route
  consumer: alice
certificates:
- cert: |
    {_indented(FIXTURES / "leaf.pem", 4)}
  key: |
    {_indented(FIXTURES / "leaf.key", 4)}
  tags: [tls]
  snis:
  - name: a.example.com
  - name: b.example.com
ca_certificates:
- cert: |
    {_indented(FIXTURES / "ca.pem", 4)}
"""


@pytest.fixture(scope="module")
def flat():
    """The rich configuration, parsed once (generated values and hashes fixed)."""
    return parse_text(RICH)


@pytest.fixture(scope="module")
def dbless(module_gateway_factory, flat):
    """A DB-less node serving `flat` (written as an export, `_transform: false`), with its
    Admin API."""
    admin = DblessAdmin()
    gateway = module_gateway_factory(export_yaml(flat), conf=admin.conf, name="dbless")
    return gateway, admin


@pytest.fixture(scope="module")
def control_plane_api(postgres, flat):
    """The control plane's Admin API on PostgreSQL holding the same configuration."""
    conf = postgres.conf(postgres.create_database())
    with_db(conf, lambda db: db.migrations.bootstrap())
    with AdminApi(conf) as api:
        api.run(api.db.entities.import_flat(flat))
        yield api


def _keys(resource, row: dict) -> list[str]:
    key_field = resource.schema.endpoint_key
    extra = [row[key_field]] if key_field and isinstance(row.get(key_field), str) else []
    return [row["id"], *extra]


def _paths(flat) -> list[str]:
    """Every GET path of the generated entity endpoints, for every entity of `flat` (by id
    and by endpoint key), plus pages, tag filters and Kong's own read paths."""
    by_type = {kind: rows for kind, rows in flat.items() if rows}
    paths = ["/tags", "/tags/team-a", "/tags/nothing", "/consumers?custom_id=alice-1", "/schemas/services",
             "/schemas/plugins/key-auth", "/plugins/enabled", "/services?tags=team-a", "/services?tags=team-a/team-b",
             "/routes?size=1", "/upstreams/billing.internal/targets", "/consumer_groups/gold/consumers",
             "/consumers/bob/consumer_groups", "/services/nope", f"/services/{uuid.uuid4()}", "/snis/a.example.com"]
    for ep in ENDPOINTS:
        if ep.kind == COLLECTION and ep.parent is None:
            paths.append(ep.path)
            continue
        owner = ep.resource if ep.parent is None else ep.parent  # the entity the first key names
        for row in by_type.get(owner.entity, []):
            for key in _keys(owner, row):
                path = ep.path.replace(f"{{{owner.param}}}", quote(key, safe=""))
                if ep.kind == ENTITY and ep.parent is not None:
                    children = by_type.get(ep.resource.entity, [])
                    paths += [path.replace(f"{{{ep.resource.param}}}", c["id"]) for c in children]
                else:
                    paths.append(path)
    return sorted(set(paths))


def test_reads_answer_as_the_control_planes_admin_api(dbless, control_plane_api, flat):
    _, admin = dbless
    paths = _paths(flat)
    assert len(paths) > 150
    compared = 0
    for path in paths:
        got = admin.raw("GET", path)
        want = control_plane_api.get(path)
        assert got[0] == want.status_code, (path, got, want.text)
        assert got[1] == want.json(), path
        compared += got[0] == 200
    assert compared > 100
    # the pages of a collection follow on, as on the control plane
    page = admin.admin_ok("GET", "/routes?size=1")
    seen = [page["data"][0]["id"]]
    while page["next"]:
        page = admin.admin_ok("GET", page["next"])
        seen += [r["id"] for r in page["data"]]
    assert seen == sorted(r["id"] for r in flat["routes"])
    certificate = admin.admin_ok("GET", f"/certificates/{flat['certificates'][0]['id']}")
    assert certificate["snis"] == ["a.example.com", "b.example.com"]


def test_node_information(dbless, flat):
    gateway, admin = dbless
    root = admin.admin_ok("GET", "/")
    assert root["configuration"]["database"] == "off"  # what decK and KIC tell DB-less by
    assert root["version"].startswith("3.")
    assert sorted(root["plugins"]["enabled_in_cluster"]) == sorted({p["name"] for p in flat["plugins"]})
    # Kong's pids (spec/02-integration/04-admin_api/02-kong_routes_spec.lua:151): the node's
    # supervisor and its workers
    assert root["pids"]["workers"] == gateway.worker_pids() and root["pids"]["master"] not in root["pids"]["workers"]
    status = admin.admin_ok("GET", "/status")
    # Kong's DB-less /status: the configuration's hash, no database
    assert "database" not in status and status["configuration_hash"] == gateway.status()[1]["configuration_hash"]
    assert status["configuration_hash"] != "0" * 32
    assert "/config" in admin.admin_ok("GET", "/endpoints")["data"]


def _unsupported(message: str) -> dict:
    return {"code": 12, "name": "operation unsupported", "message": message}


def test_writes_are_refused_with_kongs_405(dbless, flat):
    gateway, admin = dbless
    before = gateway.status()[1]["configuration_version"]
    route = {"paths": ["/"], "service": {"id": str(uuid.uuid4())}}
    orders = next(s for s in flat["services"] if s["name"] == "orders")
    alice = next(c for c in flat["consumers"] if c["username"] == "alice")
    cases = [
        ("POST", "/routes", route, "cannot create 'routes' entities when not using a database"),
        ("PUT", f"/routes/{uuid.uuid4()}", route,
         "cannot create or update 'routes' entities when not using a database"),
        ("PUT", "/routes/orders-route", route,
         "cannot create or update 'routes' entities by 'name' when not using a database"),
        ("PATCH", "/services/orders", {"retries": 2},
         "cannot update 'services' entities by 'name' when not using a database"),
        ("PATCH", f"/services/{orders['id']}", {"retries": 2},
         "cannot update 'services' entities when not using a database"),
        ("DELETE", f"/consumers/{alice['id']}", None, "cannot remove 'consumers' entities when not using a database"),
        ("DELETE", "/consumers/alice", None,
         "cannot remove 'consumers' entities by 'username' when not using a database"),
        ("POST", "/services/orders/routes", {"paths": ["/x"]},
         "cannot create 'routes' entities when not using a database"),
        ("POST", "/consumers/alice/key-auth", {"key": "another"},
         "cannot create 'keyauth_credentials' entities when not using a database"),
        ("PUT", "/routes/orders-route/service", {"host": "x.test"},
         "cannot create or update 'services' entities when not using a database"),
    ]
    for method, path, body, message in cases:
        assert admin.admin(method, path, body) == (405, _unsupported(message)), (method, path)
    # Kong's DAO looks the entity up and validates first: those answers come before the 405
    assert admin.admin("DELETE", "/services/nothing-here") == (204, {})
    assert admin.admin("PATCH", "/services/nothing-here", {"retries": 2})[0] == 404
    assert admin.admin("POST", "/services", {"name": "no-host"})[1]["code"] == 2
    # verbs no endpoint has are the router's 405
    for method in ("DELETE", "PUT", "PATCH"):
        assert admin.admin(method, "/routes", route) == (405, {"message": "Method not allowed"})
    assert admin.admin("POST", f"/routes/{uuid.uuid4()}", route) == (405, {"message": "Method not allowed"})
    assert gateway.status()[1]["configuration_version"] == before
    assert admin.admin_ok("GET", "/services/orders")["retries"] == orders["retries"]


def test_get_config_is_the_served_configuration(dbless, flat):
    _, admin = dbless
    text = admin.admin_ok("GET", "/config")["config"]
    doc = yaml.safe_load(text)
    assert doc["_format_version"] == "3.0" and doc["_transform"] is False
    assert _by_id(parse_text(text)) == _by_id(flat)


def _by_id(flat) -> dict:
    """Entities by type in id order; a certificate without the SNI names the Admin API shows
    on it (its SNIs are entities of their own in a flat configuration read back)."""
    return {
        kind: sorted(({k: v for k, v in r.items() if k != "snis"} for r in rows), key=lambda r: r["id"])
        for kind, rows in flat.items()
        if rows
    }


# ---------------------------------------------------------------------------- POST /config


@pytest.fixture(scope="module")
def posting(module_gateway_factory, module_upstream):
    """A DB-less node for POST /config, serving /one of the echo upstream at the start."""
    admin = DblessAdmin()
    gateway = module_gateway_factory(config(module_upstream.port, "/one", "one"), conf=admin.conf, name="posting")
    return gateway, admin, module_upstream


def _yml(port: int, path: str) -> str:
    return textwrap.dedent(config(port, path, path.strip("/"))).lstrip()


def _served(gateway: Gateway, path: str) -> int:
    return gateway.request("GET", f"{path}/x")[0]


def test_posted_config_is_routed_as_soon_as_answered(posting):
    gateway, admin, upstream = posting
    before = gateway.status()[1]
    text = _yml(upstream.port, "/two")
    status, body = admin.raw("POST", "/config", json.dumps({"config": text}).encode(), "application/json")
    assert status == 201
    loaded = parse_text(text)
    service = loaded["services"][0]
    assert body["services"] == {service["id"]: service}
    assert body["routes"][loaded["routes"][0]["id"]]["paths"] == ["/two"]
    assert _served(gateway, "/two") == 200 and _served(gateway, "/one") == 404  # right after the 201
    after = gateway.status()[1]
    assert after["configuration_version"] == before["configuration_version"] + 1
    assert after["configuration_hash"] != before["configuration_hash"]
    assert admin.admin_ok("GET", "/status")["configuration_hash"] == after["configuration_hash"]
    assert all(w["configuration_version"] == after["configuration_version"] for w in after["workers"])
    assert admin.admin_ok("GET", "/routes")["data"][0]["paths"] == ["/two"]


@pytest.mark.parametrize("form", ["json-document", "yaml-body", "json-body-text", "form", "multipart", "yaml-field"])
def test_every_form_kong_accepts(posting, form):
    gateway, admin, upstream = posting
    path = f"/{form}"
    text = _yml(upstream.port, path)
    document = yaml.safe_load(text)
    if form == "json-document":
        sent = (json.dumps(document).encode(), "application/json")
    elif form == "yaml-body":
        sent = (text.encode(), "application/yaml")
    elif form == "json-body-text":
        sent = (json.dumps(document).encode(), "text/plain")
    elif form == "form":
        sent = (urlencode({"config": text}).encode(), "application/x-www-form-urlencoded")
    elif form == "multipart":
        boundary = "gantry-boundary"
        part = f'--{boundary}\r\nContent-Disposition: form-data; name="config"\r\n\r\n{text}\r\n--{boundary}--\r\n'
        sent = (part.encode(), f"multipart/form-data; boundary={boundary}")
    else:
        sent = (json.dumps({"config": text}).encode(), "application/json")
    status, body = admin.raw("POST", "/config", *sent)
    assert status == 201, body
    assert [r["paths"] for r in body["routes"].values()] == [[path]]
    assert _served(gateway, path) == 200


def test_a_broken_config_changes_nothing(posting):
    gateway, admin, upstream = posting
    assert admin.raw("POST", "/config", _yml(upstream.port, "/kept").encode(), "application/yaml")[0] == 201
    before = gateway.status()[1]
    broken = '_format_version: "1.1"\nservices:\n- port: -12\n'
    fields = {"services": [{"host": "required field missing", "port": "value should be between 0 and 65535"}]}
    message = ('declarative config is invalid: '
               '{services={{host="required field missing",port="value should be between 0 and 65535"}}}')
    status, body = admin.raw("POST", "/config", json.dumps({"config": broken}).encode(), "application/json")
    assert (status, body) == (400, {"code": 14, "name": "invalid declarative configuration", "message": message,
                                    "fields": fields})
    status, body = admin.raw("POST", "/config?flatten_errors=1", broken.encode(), "application/yaml")
    assert status == 400 and body["fields"] == fields
    assert body["flattened_errors"] == [{
        "entity_type": "service", "entity": {"port": -12},
        "errors": [{"type": "field", "field": "host", "message": "required field missing"},
                   {"type": "field", "field": "port", "message": "value should be between 0 and 65535"}]}]
    not_object = "failed parsing declarative configuration: expected an object"
    assert admin.raw("POST", "/config", json.dumps({"config": "bobby tables"}).encode(), "application/json") == (
        400, {"code": 14, "name": "invalid declarative configuration", "fields": {"error": not_object},
              "message": f'declarative config is invalid: {{error="{not_object}"}}'})
    assert admin.raw("POST", "/config") == (400, {"message": "expected a declarative configuration"})
    # a route the router cannot compile, and a plugin this node does not run
    bad_regex = _yml(upstream.port, "/kept").replace('paths: ["/kept"]', 'paths: ["~/(unclosed"]')
    status, body = admin.raw("POST", "/config", bad_regex.encode(), "application/yaml")
    assert status == 400 and body["code"] == 14, body
    unknown = _yml(upstream.port, "/kept") + "plugins:\n- name: no-such-plugin\n"
    status, body = admin.raw("POST", "/config", unknown.encode(), "application/yaml")
    assert status == 400 and body["code"] == 14, body
    assert gateway.status()[1]["configuration_hash"] == before["configuration_hash"]
    assert gateway.status()[1]["configuration_version"] == before["configuration_version"]
    assert _served(gateway, "/kept") == 200


def test_check_hash_answers_304_for_the_config_served(posting):
    gateway, admin, upstream = posting
    text = _yml(upstream.port, "/hashed")
    sent = json.dumps({"config": text}).encode()
    assert admin.raw("POST", "/config?check_hash=1", sent, "application/json")[0] == 201
    version = gateway.status()[1]["configuration_version"]
    assert admin.raw("POST", "/config?check_hash=1", sent, "application/json") == (304, b"")
    # the same entities in another text, or check_hash in the body
    again = json.dumps({"config": text.replace('"', "'"), "check_hash": 1}).encode()
    assert admin.raw("POST", "/config", again, "application/json") == (304, b"")
    # without check_hash the same config is applied again (nothing changes) and answered 201
    assert admin.raw("POST", "/config", sent, "application/json")[0] == 201
    assert gateway.status()[1]["configuration_version"] == version
    other = json.dumps({"config": _yml(upstream.port, "/hashed-2")}).encode()
    assert admin.raw("POST", "/config?check_hash=1", other, "application/json")[0] == 201
    assert gateway.status()[1]["configuration_version"] == version + 1


def test_a_deck_style_sync(posting):
    """What decK does against a DB-less node: GET / (DB-less is database = off), the current
    configuration, then POST /config of the whole file; a second identical sync changes
    nothing."""
    gateway, admin, upstream = posting
    assert admin.admin_ok("GET", "/")["configuration"]["database"] == "off"
    current = yaml.safe_load(admin.admin_ok("GET", "/config")["config"])
    assert current["_format_version"] == "3.0"
    wanted = yaml.safe_load(_yml(upstream.port, "/deck"))
    wanted["services"][0]["tags"] = ["managed-by-deck"]
    status, _ = admin.raw("POST", "/config?check_hash=1", json.dumps({"config": json.dumps(wanted)}).encode(),
                          "application/json")
    assert status == 201 and _served(gateway, "/deck") == 200
    version = gateway.status()[1]["configuration_version"]
    assert admin.admin_ok("GET", "/services?tags=managed-by-deck")["data"][0]["name"] == "deck"
    status, _ = admin.raw("POST", "/config?check_hash=1", json.dumps({"config": json.dumps(wanted)}).encode(),
                          "application/json")
    assert status == 304 and gateway.status()[1]["configuration_version"] == version


def test_a_reload_after_a_post_reads_the_file_again(posting):
    gateway, admin, upstream = posting
    assert admin.raw("POST", "/config", _yml(upstream.port, "/posted").encode(), "application/yaml")[0] == 201
    version = gateway.status()[1]["configuration_version"]
    gateway.reload(config(upstream.port, "/from-file", "from-file"))
    gateway.wait_version(version + 1)
    assert _served(gateway, "/from-file") == 200 and _served(gateway, "/posted") == 404


# ---------------------------------------------------------------------------- who has one


def test_a_ca_certificate_a_service_lists_is_refused_before_the_405(posting):
    # Kong's CA certificate DAO looks for a service listing it, then the off strategy refuses
    # (spec/02-integration/04-admin_api/16-ca_certificates_routes_spec.lua:152's 400)
    _, admin, _ = posting
    used, unused, service = (str(uuid.uuid4()) for _ in range(3))
    doc = {"_format_version": "3.0",
           "ca_certificates": [{"id": used, "cert": trustme.CA().cert_pem.bytes().decode()},
                               {"id": unused, "cert": trustme.CA().cert_pem.bytes().decode()}],
           "services": [{"id": service, "name": "tls", "url": "https://127.0.0.1:9", "ca_certificates": [used]}]}
    assert admin.raw("POST", "/config", json.dumps(doc).encode(), "application/json")[0] == 201
    assert admin.admin("DELETE", f"/ca_certificates/{used}") == (400, {
        "code": 19, "name": "referenced by others",
        "message": f"ca certificate {used} is still referenced by services (id = {service})"})
    assert admin.admin("DELETE", f"/ca_certificates/{unused}") == (
        405, _unsupported("cannot remove 'ca_certificates' entities when not using a database"))


def test_admin_listen_off_and_a_data_plane_have_none(gateway_factory, module_upstream, cluster_certs):
    cert, key = cluster_certs
    admin = DblessAdmin()
    data_plane = {"role": "data_plane", "cluster_control_plane": f"127.0.0.1:{DblessAdmin().admin_port}",
                  "cluster_cert": str(cert), "cluster_cert_key": str(key), **admin.conf}
    gateway = gateway_factory(config(module_upstream.port), conf=data_plane, wait=False)
    wait_for(gateway.status_answers, timeout=20, message="the data plane's status API")
    with pytest.raises(ConnectionRefusedError):
        admin.raw("GET", "/")


def test_a_config_larger_than_the_lmdb_map_is_a_413(gateway_factory, module_upstream):
    """Kong's 413 for a configuration that does not fit in lmdb_map_size; the previous one
    is still served (15-off_spec.lua, "fails with 413 and preserves previous cache")."""
    admin = DblessAdmin()
    gateway = gateway_factory(config(module_upstream.port, "/small", "small"),
                              conf={**admin.conf, "lmdb_map_size": "1m"}, workers=1)
    before = gateway.status()[1]
    consumers = [{"username": f"bobby-{i}", "tags": [f"tag-{i}-{'x' * 40}"]} for i in range(20000)]
    status, body = admin.raw("POST", "/config", json.dumps(
        {"config": json.dumps({"_format_version": "3.0", "consumers": consumers})}).encode(), "application/json")
    assert status == 413 and "lmdb_map_size" in body["message"], body
    assert gateway.status()[1]["configuration_hash"] == before["configuration_hash"]
    assert _served(gateway, "/small") == 200
    assert admin.admin_ok("GET", "/consumers")["data"] == []
