"""Kong's entity conventions end to end (real PostgreSQL, the API on a loopback socket):
verbs and statuses, PUT/PATCH semantics, nested paths, pagination, tags, error bodies."""
from __future__ import annotations

import uuid

import pytest
import trustme

from dataplane.plugins import load_registry


def created(r, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


# ------------------------------------------------------------------ services: CRUD


def test_post_get_by_id_and_name(api):
    svc = created(api.post("/services", json={"name": "crud", "url": "https://example.com:8443/v1"}))
    assert {k: svc[k] for k in ("name", "protocol", "host", "port", "path", "retries", "enabled")} == {
        "name": "crud", "protocol": "https", "host": "example.com", "port": 8443, "path": "/v1",
        "retries": 5, "enabled": True}
    assert svc["tags"] is None and svc["client_certificate"] is None
    assert api.get(f"/services/{svc['id']}").json() == svc
    assert api.get("/services/crud").json() == svc


def test_get_missing_is_404(api):
    for key in ("nope", str(uuid.uuid4())):
        r = api.get(f"/services/{key}")
        assert (r.status_code, r.json()) == (404, {"message": "Not found"})


def test_unique_violation(api):
    created(api.post("/services", json={"name": "dup", "host": "a.test"}))
    r = api.post("/services", json={"name": "dup", "host": "b.test"})
    assert r.status_code == 409
    assert r.json() == {"code": 5, "name": "unique constraint violation",
                        "message": "UNIQUE violation detected on '{name=\"dup\"}'",
                        "fields": {"name": "dup"}}


def test_schema_violation_one_and_several(api):
    r = api.post("/services", json={"name": "bad"})
    assert r.status_code == 400
    assert r.json() == {"code": 2, "name": "schema violation",
                        "message": "schema violation (host: required field missing)",
                        "fields": {"host": "required field missing"}}
    r = api.post("/services", json={"host": 5, "port": 99999, "foo": 1})
    assert r.json() == {
        "code": 2, "name": "schema violation",
        "message": "3 schema violations (foo: unknown field; host: expected a string; "
                   "port: value should be between 0 and 65535)",
        "fields": {"foo": "unknown field", "host": "expected a string",
                   "port": "value should be between 0 and 65535"}}


def test_patch_merges_then_validates(api):
    svc = created(api.post("/services", json={"name": "patched", "host": "a.test", "tags": ["x"]}))
    r = api.patch("/services/patched", json={"port": 8080})
    assert r.status_code == 200
    assert {**svc, "port": 8080, "updated_at": r.json()["updated_at"]} == r.json()
    r = api.patch(f"/services/{svc['id']}", json={"protocol": "tcp", "path": "/x"})
    assert r.status_code == 400
    assert r.json()["fields"] == {"path": "value must be null",
                                  "@entity": ["failed conditional validation given value of field 'protocol'"]}
    assert api.get("/services/patched").json()["protocol"] == "http"


def test_patch_missing_is_kong_not_found(api):
    r = api.patch("/services/ghost", json={"port": 1})
    assert (r.status_code, r.json()) == (404, {
        "code": 6, "name": "not found", "message": "could not find the entity with '{name=\"ghost\"}'",
        "fields": {"name": "ghost"}})
    missing = str(uuid.uuid4())
    r = api.patch(f"/services/{missing}", json={"port": 1})
    assert r.json() == {"code": 6, "name": "not found",
                        "message": f"could not find the entity with primary key '{{id=\"{missing}\"}}'",
                        "fields": {"id": missing}}


def test_put_upserts_by_name_and_by_id(api):
    first = created(api.put("/services/upserted", json={"host": "a.test", "port": 81}), 200)
    assert first["name"] == "upserted"
    second = created(api.put("/services/upserted", json={"host": "b.test"}), 200)
    # a replacement: same entity, fields not given back to their defaults
    assert (second["id"], second["host"], second["port"]) == (first["id"], "b.test", 80)
    assert second["created_at"] == first["created_at"]
    new_id = str(uuid.uuid4())
    third = created(api.put(f"/services/{new_id}", json={"name": "by-id", "host": "c.test"}), 200)
    assert third["id"] == new_id and api.get("/services/by-id").json()["id"] == new_id


def test_delete_is_204_even_when_absent(api):
    svc = created(api.post("/services", json={"name": "doomed", "host": "a.test"}))
    for key in ("doomed", svc["id"], "never-existed", str(uuid.uuid4())):
        r = api.delete(f"/services/{key}")
        assert (r.status_code, r.content) == (204, b"")
    assert api.get(f"/services/{svc['id']}").status_code == 404


# ------------------------------------------------------------------ nested paths


def test_routes_under_a_service(api):
    svc = created(api.post("/services", json={"name": "parent", "host": "a.test"}))
    other = created(api.post("/services", json={"name": "other", "host": "a.test"}))
    route = created(api.post("/services/parent/routes", json={"name": "child", "paths": ["/c"]}))
    assert route["service"] == {"id": svc["id"]}
    created(api.post(f"/services/{other['id']}/routes", json={"paths": ["/o"]}))
    listed = api.get("/services/parent/routes").json()
    assert [r["id"] for r in listed["data"]] == [route["id"]] and listed["next"] is None
    assert api.get("/services/parent/routes/child").json() == route
    assert api.get("/services/other/routes/child").status_code == 404
    assert api.get("/routes/child/service").json() == svc
    assert api.get("/services/missing/routes").json() == {"message": "Not found"}
    # PATCH through the parent path; the foreign entity cannot be deleted through the child
    assert api.patch("/routes/child/service", json={"retries": 1}).json()["retries"] == 1
    r = api.delete("/routes/child/service")
    assert (r.status_code, r.json()) == (405, {"message": "Method not allowed"})
    r = api.delete("/services/parent")
    assert (r.status_code, r.json()) == (400, {
        "code": 4, "name": "foreign key violation",
        "message": "an existing 'routes' entity references this 'services' entity",
        "fields": {"@referenced_by": "routes"}})
    assert api.delete("/services/other/routes/child").status_code == 404
    assert api.delete("/services/parent/routes/child").status_code == 204


def test_foreign_key_violation(api):
    missing = str(uuid.uuid4())
    r = api.post("/routes", json={"paths": ["/x"], "service": {"id": missing}})
    assert (r.status_code, r.json()) == (400, {
        "code": 4, "name": "foreign key violation",
        "message": f"the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'services' entity.",
        "fields": {"service": {"id": missing}}})


def test_plugins_on_each_scope(api):
    svc = created(api.post("/services", json={"name": "plugged", "host": "a.test"}))
    route = created(api.post("/services/plugged/routes", json={"name": "plugged-r", "hosts": ["h.test"]}))
    consumer = created(api.post("/consumers", json={"username": "plugged-c"}))
    on_svc = created(api.post("/services/plugged/plugins", json={"name": "cors"}))
    on_route = created(api.post("/routes/plugged-r/plugins", json={"name": "cors"}))
    on_consumer = created(api.post("/consumers/plugged-c/plugins", json={"name": "response-transformer"}))
    # a plugin Kong never scopes to a consumer (typedefs.no_consumer) is refused under one
    r = api.post("/consumers/plugged-c/plugins", json={"name": "cors"})
    assert (r.status_code, r.json()["fields"]) == (400, {"consumer": "value must be null"})
    assert on_svc["service"] == {"id": svc["id"]} and on_svc["route"] is None
    assert on_route["route"] == {"id": route["id"]}
    assert on_consumer["consumer"] == {"id": consumer["id"]}
    assert [p["id"] for p in api.get("/routes/plugged-r/plugins").json()["data"]] == [on_route["id"]]
    r = api.post("/plugins", json={"name": "no-such-plugin"})
    msg = "plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property"
    assert (r.status_code, r.json()) == (400, {"code": 2, "name": "schema violation",
                                               "message": f"schema violation (name: {msg})",
                                               "fields": {"name": msg}})


def test_targets_under_an_upstream(api):
    up = created(api.post("/upstreams", json={"name": "pool"}))
    target = created(api.post("/upstreams/pool/targets", json={"target": "10.0.0.1"}))
    assert target["target"] == "10.0.0.1:8000" and target["upstream"] == {"id": up["id"]}
    assert api.get("/upstreams/pool/targets/10.0.0.1:8000").json() == target
    assert api.get("/upstreams/pool/targets/10.0.0.1").json() == target
    assert api.get(f"/upstreams/{up['id']}/targets").json()["data"] == [target]
    assert api.patch("/upstreams/pool/targets/10.0.0.1:8000", json={"weight": 5}).json()["weight"] == 5
    assert api.get(f"/targets/{target['id']}").status_code == 404  # Kong disables /targets
    # PUT updates like PATCH (Kong's target endpoint) and never creates
    r = api.put("/upstreams/pool/targets/10.0.0.1:8000", json={"tags": ["put"]})
    assert r.status_code == 200 and (r.json()["weight"], r.json()["tags"]) == (5, ["put"])
    r = api.put("/upstreams/pool/targets/10.0.0.9:8000", json={"weight": 1})
    assert (r.status_code, r.json()) == (404, {"message": "Not found"})
    assert len(api.get("/upstreams/pool/targets").json()["data"]) == 1
    assert api.delete("/upstreams/pool/targets/10.0.0.1:8000").status_code == 204


def test_certificates_and_snis(api):
    ca = trustme.CA()
    leaf = ca.issue_cert("tls.test")
    cert = created(api.post("/certificates", json={
        "cert": leaf.cert_chain_pems[0].bytes().decode(), "key": leaf.private_key_pem.bytes().decode()}))
    sni = created(api.post(f"/certificates/{cert['id']}/snis", json={"name": "tls.test"}))
    assert sni["certificate"] == {"id": cert["id"]}
    assert api.get(f"/certificates/{cert['id']}/snis").json()["data"] == [sni]
    assert api.get("/snis/tls.test").json() == sni
    r = api.get("/certificates/not-a-uuid-and-no-sni")
    assert (r.status_code, r.json()) == (404, {"message": "SNI not found"})


def test_consumers_by_custom_id(api):
    consumer = created(api.post("/consumers", json={"username": "cid-user", "custom_id": "c-42"}))
    created(api.post("/consumers", json={"username": "cid-other", "custom_id": "c-43"}))
    assert api.get("/consumers?custom_id=c-42").json() == {"data": [consumer], "next": None}
    assert api.get("/consumers?custom_id=c-44&size=1").json() == {"data": [], "next": None}
    for bad in ("custom_id=", "custom_id=a&custom_id=b"):
        r = api.get(f"/consumers?{bad}")
        assert (r.status_code, r.json()) == (400, {"message": "custom_id must be an unempty string"})


def test_key_auth_credentials(api):
    consumer = created(api.post("/consumers", json={"username": "keyed"}))
    cred = created(api.post("/consumers/keyed/key-auth", json={"key": "k-123"}))
    assert cred["consumer"] == {"id": consumer["id"]}
    generated = created(api.post("/consumers/keyed/key-auth", json={}))
    assert len(generated["key"]) == 32
    assert api.get("/key-auths/k-123").json() == cred
    assert api.get("/consumers/keyed/key-auth/k-123").json() == cred
    listed = api.get("/consumers/keyed/key-auth").json()["data"]
    assert {c["id"] for c in listed} == {cred["id"], generated["id"]}
    assert api.get("/key-auths/k-123/consumer").json() == consumer


# ------------------------------------------------------------------ pagination and tags


def test_pagination_follows_next(api):
    ids = {created(api.post("/consumers", json={"username": f"page-{i}", "tags": ["paged"]}))["id"]
           for i in range(5)}
    page = api.get("/consumers?size=2&tags=paged").json()
    assert len(page["data"]) == 2 and page["offset"]
    assert page["next"].startswith("/consumers?offset=") and page["next"].endswith("&tags=paged&size=2")
    seen = [c["id"] for c in page["data"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [c["id"] for c in page["data"]]
    assert sorted(seen) == sorted(ids) and "offset" not in page


def test_tag_filters_all_and_any(api):
    a = created(api.post("/upstreams", json={"name": "ta", "tags": ["t1", "t2"]}))["id"]
    b = created(api.post("/upstreams", json={"name": "tb", "tags": ["t2", "t3"]}))["id"]

    def ids(query: str) -> set[str]:
        return {u["id"] for u in api.get(f"/upstreams?tags={query}").json()["data"]}

    assert ids("t1,t2") == {a} and ids("t2") == {a, b} and ids("t1/t3") == {a, b}
    tags = api.get("/tags/t2").json()
    assert {(t["entity_name"], t["entity_id"]) for t in tags["data"]} == {("upstreams", a), ("upstreams", b)}
    assert {"entity_name": "upstreams", "entity_id": a, "tag": "t1"} in api.get("/tags").json()["data"]


@pytest.mark.parametrize("query, body", [
    ("size=abc", {"code": 9, "name": "invalid size", "message": "size must be a number"}),
    ("size=0", {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"}),
    ("size=1001", {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"}),
    ("offset=garbage", {"code": 7, "name": "invalid offset",
                        "message": "'garbage' is not a valid offset: bad json encoding"}),
    ("tags=a,b/c", {"code": 11, "name": "invalid options", "message": "invalid option (tags: invalid filter syntax)",
                    "options": {"tags": "invalid filter syntax"}}),
    ("tags=a,b,c,d,e,f", {"code": 11, "name": "invalid options",
                          "message": "invalid option (tags: cannot query more than 5 tags)",
                          "options": {"tags": "cannot query more than 5 tags"}}),
])
def test_bad_page_arguments(api, query, body):
    r = api.get(f"/services?{query}")
    assert (r.status_code, r.json()) == (400, body)


# ------------------------------------------------------------------ bodies


def test_malformed_and_unsupported_bodies(api):
    r = api.post("/services", data="{nope", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"message": "Cannot parse JSON body"})
    r = api.post("/services", data="[1]", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"message": "Cannot parse JSON body"})
    r = api.post("/services", data="host: x", headers={"Content-Type": "text/yaml"})
    assert r.status_code == 415


# ------------------------------------------------------------------ node, schemas, endpoints


def test_root(api, db_conf):
    created(api.post("/plugins", json={"name": "correlation-id"}))
    body = api.get("/").json()
    assert body["node_id"] == api.api.node_id and body["hostname"]
    assert body["version"].startswith("3.10.0-gantry-")  # decK/go-kong read Kong 3.10
    # each plugin this node runs, at its own version and priority; none it does not run
    available = body["plugins"]["available_on_server"]
    key_auth = load_registry(("bundled",)).get("key-auth")
    assert available["key-auth"] == {"version": key_auth.version, "priority": 1250}
    assert set(available) == set(load_registry(("bundled",)).names()) and "datadog" not in available
    assert body["configuration"]["database"] == "postgres"
    assert "correlation-id" in body["plugins"]["enabled_in_cluster"]
    assert body["configuration"]["pg_database"] == db_conf.pg_database
    assert body["configuration"]["pg_password"] in ("", "******")


def test_status(api):
    body = api.get("/status").json()
    assert body["database"] == {"reachable": True}
    assert body["server"]["total_requests"] >= 1 and body["server"]["connections_active"] >= 1


def test_schemas(api):
    services = api.get("/schemas/services").json()
    assert {"host": {"type": "string", "required": True}} in [
        {k: {a: v[a] for a in ("type", "required") if a in v}} for f in services["fields"] for k, v in f.items()]
    assert api.get("/schemas/nope").json() == {"message": "No entity named 'nope'"}
    key_auth = api.get("/schemas/plugins/key-auth").json()["fields"]
    assert any("config" in f for f in key_auth)
    # Kong's typedefs.no_consumer, first as in Kong's key-auth schema
    assert key_auth[0] == {"consumer": {"type": "foreign", "reference": "consumers", "eq": None}}
    assert api.get("/schemas/plugins/nope").json() == {"message": "No plugin named 'nope'"}
    r = api.post("/schemas/routes/validate", json={"paths": ["/ok"]})
    assert (r.status_code, r.json()) == (200, {"message": "schema validation successful"})
    r = api.post("/schemas/routes/validate", json={"paths": ["x"]})
    assert r.status_code == 400 and r.json()["fields"] == {
        "paths": ["should start with: / (fixed path) or ~/ (regex path)"]}
    assert api.get("/plugins/enabled").json()["enabled_plugins"] == load_registry(("bundled",)).names()
    # a plugin the node does not run has no schema here, as in Kong
    assert api.get("/schemas/plugins/datadog").json() == {"message": "No plugin named 'datadog'"}


def test_endpoints_lists_kong_paths(api):
    data = api.get("/endpoints").json()["data"]
    for path in ("/services/{services}/routes", "/routes/{routes}/service",
                 "/consumers/{consumers}/key-auth", "/key-auths", "/upstreams/{upstreams}/targets",
                 "/certificates/{certificates}/snis", "/tags/{tags}", "/schemas/{name}"):
        assert path in data
    assert data == sorted(data, key=lambda p: p.replace("/", "\x00"))


def test_nul_characters_never_reach_postgresql(api):
    # a name or tag with NUL is one Kong's fields refuse (code 10); a username is any text
    assert api.get("/services/a%00b").json()["code"] == 10
    assert api.get("/consumers/a%00b").status_code == 404
    assert api.get("/tags/a%00").json()["code"] == 10
    assert api.put("/services/x%00", json={"host": "h.test"}).status_code == 400
    r = api.post("/plugins", json={"name": "cors", "config": {"origins": ["a\u0000"]}})
    assert (r.status_code, r.json()["fields"]) == (400, {"config": "must not contain NUL characters"})
