"""Admin API answers taken from Kong's own integration specs (spec/02-integration/04-admin_api/
in Kong/kong; each test names the file and line of its case) and, where a spec case never
runs or is silent, from the Kong source that answers: real PostgreSQL, the API on a loopback
socket."""
from __future__ import annotations

import uuid

import trustme

ADMIN_SPEC = "spec/02-integration/04-admin_api"


def created(r, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def service(api, name: str) -> dict:
    return created(api.post("/services", json={"name": name, "host": f"{name}.test"}))


# ------------------------------------------------------------------ foreign keys by name


def test_route_service_given_by_name_is_resolved(api):
    # kong/db/dao/init.lua resolve_foreign: a foreign key without an id, by a unique field
    svc = service(api, "fk-by-name")
    route = created(api.post("/routes", json={"paths": ["/fk"], "service": {"name": "fk-by-name"}}))
    assert route["service"] == {"id": svc["id"]}
    form = created(api.post("/routes", data={"paths[]": "/fk-form", "service.name": "fk-by-name"}))
    assert form["service"] == {"id": svc["id"]}
    patched = created(api.patch(f"/routes/{route['id']}", json={"service": {"name": "fk-by-name"}}), 200)
    assert patched["service"] == {"id": svc["id"]}
    put = created(api.put("/routes/fk-put", json={"paths": ["/p"], "service": {"name": "fk-by-name"}}), 200)
    assert put["service"] == {"id": svc["id"]}


def test_route_service_name_that_does_not_exist(api):
    # 09-routes_routes_spec.lua:398 "Invalid foreign entity reference", JSON and form bodies
    text = ("the foreign key cannot be resolved with '{name=\"non-existing\"}' "
            "for an existing 'services' entity")
    expected = {"code": 13, "name": "foreign keys unresolved",
                "message": f"foreign key unresolved (service.name: {text})",
                "fields": {"service": {"name": text}}}
    r = api.post("/routes", json={"methods": ["GET"], "service": {"name": "non-existing"}})
    assert (r.status_code, r.json()) == (400, expected)
    r = api.post("/routes", data={"methods[]": "GET", "service.name": "non-existing"})
    assert (r.status_code, r.json()) == (400, expected)
    assert all(x["methods"] != ["GET"] for x in api.get("/routes?size=1000").json()["data"])


def test_route_service_name_null_or_not_unique_is_missing_primary_key(api):
    # 09-routes_routes_spec.lua:419 (null name) and :442 (a field that is not unique)
    missing = {"code": 2, "name": "schema violation", "message": "schema violation (service.id: missing primary key)",
               "fields": {"service": {"id": "missing primary key"}}}
    for ref in ({"name": None}, {"protocol": "http"}):
        r = api.post("/routes", json={"methods": ["GET"], "service": ref})
        assert (r.status_code, r.json()) == (400, missing)
    r = api.post("/routes", data={"methods[]": "GET", "service.name": ""})
    assert (r.status_code, r.json()) == (400, missing)


def test_plugin_consumer_by_username(api):
    consumer = created(api.post("/consumers", json={"username": "fk-user"}))
    plugin = created(api.post("/plugins", json={"name": "response-transformer", "consumer": {"username": "fk-user"}}))
    assert plugin["consumer"] == {"id": consumer["id"]}
    r = api.post("/plugins", json={"name": "response-transformer", "consumer": {"username": "ghost", "custom_id": "c"}})
    assert r.status_code == 400 and r.json()["code"] == 13
    assert r.json()["message"].startswith("2 foreign keys unresolved (consumer.custom_id: the foreign key cannot "
                                          "be resolved with '{custom_id=\"c\"}' for an existing 'consumers' entity; ")


# ------------------------------------------------------------------ duplicates


def test_duplicate_primary_key_is_code_3(api):
    # 09-routes_routes_spec.lua:1792 "returns 409 on id conflict (same plugin id)" never runs
    # (its body is a function returned to `it`); the Admin API answers code 3 with the status
    # kong/api/endpoints.lua's ERRORS_HTTP_CODES gives it, 400
    route = created(api.post("/routes", json={"paths": ["/pk"]}))
    plugin = created(api.post(f"/routes/{route['id']}/plugins", json={"name": "basic-auth"}))
    r = api.post(f"/routes/{route['id']}/plugins", json={"name": "key-auth", "id": plugin["id"]})
    assert (r.status_code, r.json()) == (400, {
        "code": 3, "name": "primary key violation",
        "message": f"primary key violation on key '{{id=\"{plugin['id']}\"}}'", "fields": {"id": plugin["id"]}})
    svc = service(api, "pk-service")
    r = api.post("/services", json={"id": svc["id"], "host": "other.test"})
    assert (r.status_code, r.json()["code"]) == (400, 3)


def test_duplicate_plugin_message_writes_null(api):
    # 09-routes_routes_spec.lua:1743 "returns 409 on conflict (same plugin name)"
    route = created(api.post("/routes", json={"paths": ["/dup-plugin"]}))
    created(api.post(f"/routes/{route['id']}/plugins", json={"name": "basic-auth"}))
    for content in ("json", "data"):
        r = api.post(f"/routes/{route['id']}/plugins", **{content: {"name": "basic-auth"}})
        assert r.status_code == 409
        # Gantry's plugins are also unique per consumer group (Kong Gateway Enterprise's key)
        assert r.json() == {
            "code": 5, "name": "unique constraint violation",
            "message": "UNIQUE violation detected on '{consumer=null,consumer_group=null,name=\"basic-auth\","
                       f"route={{id=\"{route['id']}\"}},service=null}}'",
            "fields": {"consumer": None, "consumer_group": None, "name": "basic-auth",
                       "route": {"id": route["id"]}, "service": None}}


# ------------------------------------------------------------------ CA certificates


def test_ca_certificate_used_by_a_service_cannot_be_deleted(api):
    # 16-ca_certificates_routes_spec.lua:152
    ca = trustme.CA().cert_pem.bytes().decode()
    cert = created(api.post("/ca_certificates", json={"cert": ca}))
    svc = created(api.post("/services", json={"url": "https://ca.test:8443", "ca_certificates": [cert["id"]]}))
    r = api.delete(f"/ca_certificates/{cert['id']}")
    assert (r.status_code, r.json()) == (400, {
        "code": 19, "name": "referenced by others",
        "message": f"ca certificate {cert['id']} is still referenced by services (id = {svc['id']})"})
    assert api.get(f"/ca_certificates/{cert['id']}").status_code == 200
    assert api.delete(f"/services/{svc['id']}").status_code == 204
    assert api.delete(f"/ca_certificates/{cert['id']}").status_code == 204
    assert api.get(f"/ca_certificates/{cert['id']}").status_code == 404


# ------------------------------------------------------------------ wording


def test_invalid_offset_says_why(api):
    # 09-routes_routes_spec.lua:565 "handles invalid offsets"
    r = api.get("/routes", params={"offset": "x"})
    assert (r.status_code, r.json()) == (400, {"code": 7, "name": "invalid offset",
                                               "message": "'x' is not a valid offset: bad base64 encoding"})
    r = api.get("/routes", params={"offset": "|potato|"})
    body = r.json()
    assert r.status_code == 400 and {k: body[k] for k in ("code", "name")} == {"code": 7, "name": "invalid offset"}
    r = api.get("/routes", params={"offset": "e30"})  # base64 of "{}": not a page's key
    assert r.json()["message"] == "'e30' is not a valid offset: bad json encoding"


def test_invalid_new_target_message(api):
    # 08-targets_routes_spec.lua:166: the targets DAO's own message on insert
    created(api.post("/upstreams", json={"name": "wording-up"}))
    for content in ("json", "data"):
        r = api.post("/upstreams/wording-up/targets/", **{content: {"target": "some invalid host name"}})
        assert r.status_code == 400
        assert r.json()["name"] == "schema violation"
        assert r.json()["fields"] == {"target": "Invalid target; not a valid hostname or ip address"}
    # an update is checked by the schema, which names the value
    target = created(api.post("/upstreams/wording-up/targets", json={"target": "a.test:80"}))
    r = api.patch(f"/upstreams/wording-up/targets/{target['id']}", json={"target": "bad host"})
    assert r.json()["fields"] == {"target": "Invalid target ('bad host'); not a valid hostname or ip address"}


def test_multipart_without_boundary_has_no_fields(api):
    # 03-consumers_routes_spec.lua:162 "returns 400 on missing body with multipart/form-data"
    r = api.post("/consumers", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400
    assert r.json()["name"] == "schema violation"
    assert r.json()["fields"]["@entity"] == ["at least one of these fields must be non-empty: 'custom_id', 'username'"]
    r = api.post("/consumers", data=b"username=x", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and r.json()["name"] == "schema violation"


def test_unused_id_is_still_created(api):
    svc = created(api.post("/services", json={"id": str(uuid.uuid4()), "host": "fresh.test"}))
    assert api.get(f"/services/{svc['id']}").status_code == 200


# ------------------------------------------------------------------ OPTIONS and CORS


def test_options_answers_allow_and_cors_headers(api):
    # 02-kong_routes_spec.lua:654, 09-routes_routes_spec.lua:52 and :619, 23-cors_spec.lua:27
    for path, allow in (("/", "GET, HEAD, OPTIONS"), ("/routes", "GET, HEAD, OPTIONS, POST"),
                        ("/routes/test", "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"),
                        ("/status", "GET, HEAD, OPTIONS"), ("/schemas/services", "GET, HEAD, OPTIONS"),
                        ("/upstreams/u/targets/all", "GET, HEAD, OPTIONS")):
        r = api.session.options(api.url + path)
        assert (r.status_code, r.text) == (204, ""), path
        assert r.headers["Allow"] == allow, path
        assert r.headers["Access-Control-Allow-Methods"] == allow
        assert r.headers["Access-Control-Allow-Headers"] == "Content-Type"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = api.session.options(api.url + "/", headers={"Access-Control-Request-Headers": "X-Header-1,X-Header-2",
                                                     "Origin": "http://example.com"})
    assert r.headers["Access-Control-Allow-Headers"] == "X-Header-1,X-Header-2"
    assert r.headers["Access-Control-Allow-Origin"] == "http://example.com"
    # 02-kong_routes_spec.lua:629 "returns 404 with OPTIONS"
    r = api.session.options(api.url + "/non-existing")
    assert (r.status_code, r.json()) == (404, {"message": "Not found"})


def test_main_request_cors_headers(api):
    # 23-cors_spec.lua:96 "Main request"
    r = api.get("/", headers={"Access-Control-Request-Method": "PATCH",
                              "Access-Control-Request-Headers": "X-Header-1,X-Header-2"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Methods" not in r.headers and "Access-Control-Allow-Headers" not in r.headers
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert api.get("/", headers={"Origin": "http://example.com"}).headers["Access-Control-Allow-Origin"] == \
        "http://example.com"
    assert api.get("/nowhere").headers["Access-Control-Allow-Origin"] == "*"


def test_gui_origins():
    # 23-cors_spec.lua with admin_gui_url set: the GUI's origin unless the request's is one
    from controlplane.api.app import allow_origin, gui_origins
    origins = gui_origins("http://admin.api:9100/path/to/any/way, https://b.test")
    assert origins == ["http://admin.api:9100", "https://b.test"]
    assert allow_origin("http://example.com", origins) == "http://admin.api:9100"
    assert allow_origin("https://b.test", origins) == "https://b.test"
    assert allow_origin(None, origins) == "http://admin.api:9100"
    assert allow_origin(None, gui_origins("")) == "*"


# ------------------------------------------------------------------ / and /status


def test_status_has_the_server_counters(api):
    # 02-kong_routes_spec.lua:194
    server = api.get("/status").json()["server"]
    for name in ("connections_accepted", "connections_active", "connections_handled", "connections_reading",
                 "connections_writing", "connections_waiting", "total_requests"):
        assert isinstance(server[name], int), name
    assert server["connections_writing"] >= 1  # this request
    assert server["connections_accepted"] >= server["connections_active"] >= server["connections_writing"]
    assert server["connections_active"] == (server["connections_reading"] + server["connections_writing"]
                                            + server["connections_waiting"])
    again = api.get("/status").json()["server"]
    assert again["total_requests"] > server["total_requests"]


def test_root_has_worker_pids(api):
    # 02-kong_routes_spec.lua:151: a control plane's one process serves
    import os
    pids = api.get("/").json()["pids"]
    assert pids == {"master": os.getpid(), "workers": [os.getpid()]}


# ------------------------------------------------------------------ tags


def test_tag_filters(api):
    # 14-tags_spec.lua
    for i in (1, 2):
        created(api.post("/consumers", json={"username": f"adminapi-filter-by-tag-{i}",
                                             "tags": ["corp_ a", f"consumer_ {i}", "🦍"]}))
    for path in ("/consumers", "/upstreams", "/consumers/adminapi-filter-by-tag-1/plugins"):
        r = api.get(f"{path}?tags=")  # :76, 03-consumers_routes_spec.lua:285, 07-upstreams_routes_spec.lua:640
        assert (r.status_code, r.json()["message"]) == (400, "invalid option (tags: cannot be null)"), path
    assert api.get("/consumers?tags=''").json()["data"] == []  # :86
    r = api.get("/consumers?tags=%FF")  # :146 (Kong's raw byte 255, escaped here: h11 refuses it raw)
    assert (r.status_code, r.json()["message"]) == (400, "invalid option (tags: invalid filter syntax)")
    r = api.get("/consumers?tags=%C3")  # an escape that is not UTF-8
    assert (r.status_code, r.json()["message"]) == (400, "invalid option (tags: invalid filter syntax)")
    assert len(api.get("/consumers?tags=🦍").json()["data"]) == 2


def test_nested_collections_ignore_tags(api):
    # 14-tags_spec.lua:120 "ignores tags when filtering by multiple filters #6779"
    consumer = created(api.post("/consumers", json={"username": "nested-tags"}))
    plugin = created(api.post(f"/consumers/{consumer['id']}/plugins",
                              json={"name": "response-transformer", "tags": ["corp_ a", "consumer_ 1"]}))
    data = api.get("/consumers/nested-tags/plugins?tags=consumer_%202").json()["data"]
    assert [p["id"] for p in data] == [plugin["id"]]
    r = api.get("/consumers/nested-tags/plugins?tags=a,b/c")
    assert (r.status_code, r.json()["message"]) == (400, "invalid option (tags: invalid filter syntax)")


def test_tags_paths(api):
    # 14-tags_spec.lua:245 and :256
    created(api.post("/services", json={"name": "tagged-svc", "host": "t.test", "tags": ["corp_ a"]}))
    r = api.get("/tags/%FF")
    assert (r.status_code, r.json()) == (400, {
        "code": 10, "name": "invalid unique tag",
        "message": "invalid utf-8 character sequence detected at position 1"})
    assert api.get("/tags/ab%C3").json()["message"] == "invalid utf-8 character sequence detected at position 3"
    r = api.get("/tags/a%2Cb")
    assert (r.status_code, r.json()["code"]) == (400, 10)
    assert r.json()["message"] == "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
    everything = api.get("/tags?size=1000").json()["data"]
    assert api.get("/tags?size=1000&tags=not_a_tag").json()["data"] == everything
    assert api.get("/tags?size=1000&tags=").json()["data"] == everything
    one = api.get("/tags/corp_%20a?size=1000").json()["data"]
    assert one and api.get("/tags/corp_%20a?size=1000&tags=invalid@tag").json()["data"] == one
    assert api.get("/services/%FF").status_code == 400  # other paths: not UTF-8


# ------------------------------------------------------------------ /upstreams/{u}/targets/all


def test_targets_all(api):
    # 08-targets_routes_spec.lua:625
    upstream = created(api.post("/upstreams", json={"name": "all-targets"}))
    for i in range(1, 11):
        created(api.post(f"/upstreams/{upstream['id']}/targets", json={"target": f"api-{i}:80", "weight": 100}))
    created(api.post(f"/upstreams/{upstream['id']}/targets", json={"target": "zero:80", "weight": 0}))
    assert len(api.get("/upstreams/all-targets/targets/all").json()["data"]) == 11
    json = api.get("/upstreams/all-targets/targets/all", params={"size": 3}).json()
    assert isinstance(json["offset"], str)
    from urllib.parse import quote
    assert json["next"] == f"/upstreams/all-targets/targets/all?offset={quote(json['offset'], safe='')}"
    seen, offset = [], None
    for i in range(4):
        page = api.get("/upstreams/all-targets/targets/all", params={"size": 3, "offset": offset}).json()
        assert len(page["data"]) == (3 if i < 3 else 2)
        seen += [t["id"] for t in page["data"]]
        offset = page.get("offset")
    assert len(set(seen)) == 11 and offset is None
    assert api.get("/upstreams/all-targets/targets/all?foo=bar").status_code == 200
    r = api.session.get(api.url + "/upstreams/all-targets/targets/all", data="this fails if decoded as json",
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    empty = created(api.post("/upstreams", json={"name": "no-targets"}))
    r = api.get(f"/upstreams/{empty['name']}/targets/all")
    assert r.json() == {"data": [], "next": None} and '"data":[]' in r.text
    assert api.get("/upstreams/missing/targets/all").status_code == 404


def test_invalid_endpoint_key_in_the_path(api):
    # 07-upstreams_routes_spec.lua:559: PUT by a name the field refuses is Kong's code 10 (the
    # DAO's upsert_by_name checks the key before the entity), as are GET, PATCH and DELETE
    r = api.put("/upstreams/1.2.3.4", json={"created_at": 1461276890000})
    assert (r.status_code, r.json()) == (400, {"code": 10, "name": "invalid unique name",
                                               "message": "Invalid name ('1.2.3.4'); no ip addresses allowed"})
    for method in ("get", "patch", "delete"):
        r = getattr(api, method)("/upstreams/1.2.3.4")
        assert (r.status_code, r.json()["code"]) == (400, 10), method
    assert api.get("/upstreams/1.2.3.4/targets").json()["name"] == "invalid unique name"
    assert api.get("/upstreams/valid-but-missing").status_code == 404
