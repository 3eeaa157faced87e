"""The credential entities through the Admin API on a real PostgreSQL: Kong's paths (nested
under a consumer and top-level), verbs, pagination, tags, PUT upsert, the basic-auth password
hash, and Kong's errors (after spec/03-plugins/*/02-api_spec.lua and 18-acl/01-api_spec.lua)."""
from __future__ import annotations

import hashlib
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def created(r, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def sha1(password: str, consumer_id: str) -> str:
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


@pytest.fixture
def consumer(api):
    """A fresh consumer (and a second one, `other`), deleted afterwards with their credentials."""
    name = f"c-{uuid.uuid4().hex[:8]}"
    c = created(api.post("/consumers", json={"username": name}))
    yield c
    api.delete(f"/consumers/{c['id']}")


@pytest.fixture
def other(api):
    c = created(api.post("/consumers", json={"username": f"o-{uuid.uuid4().hex[:8]}"}))
    yield c
    api.delete(f"/consumers/{c['id']}")


def fk_error(missing: str) -> dict:
    return {"code": 4, "name": "foreign key violation",
            "message": f"the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'consumers' entity.",
            "fields": {"consumer": {"id": missing}}}


def unique_error(field: str, value: str) -> dict:
    return {"code": 5, "name": "unique constraint violation",
            "message": f"UNIQUE violation detected on '{{{field}=\"{value}\"}}'",
            "fields": {field: value}}


def u(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ basic-auth


def test_basic_auth_post_hashes_the_password(api, consumer):
    name = consumer["username"]
    user = u("bob")
    cred = created(api.post(f"/consumers/{name}/basic-auth", json={"username": user, "password": "kong"}))
    assert cred["consumer"] == {"id": consumer["id"]} and cred["username"] == user
    assert cred["password"] == sha1("kong", consumer["id"])
    assert list(cred) == ["id", "created_at", "consumer", "username", "password", "tags"]
    spaced = created(api.post(f"/consumers/{name}/basic-auth/",
                              json={"username": u("sp"), "password": " kong ", "tags": ["tag1", "tag2"]}))
    assert spaced["password"] == sha1(" kong ", consumer["id"]) and spaced["tags"] == ["tag1", "tag2"]
    form = created(api.post(f"/consumers/{name}/basic-auth", data={"username": u("f"), "password": "p w"}))
    assert form["password"] == sha1("p w", consumer["id"])
    # what is read back is the stored hash, everywhere
    assert api.get(f"/basic-auths/{cred['id']}").json() == cred
    assert api.get(f"/basic-auths/{user}").json() == cred
    assert api.get(f"/consumers/{name}/basic-auth/{user}").json() == cred
    assert api.get(f"/consumers/{consumer['id']}/basic-auth/{cred['id']}").json() == cred


def test_basic_auth_errors(api, consumer, other):
    name = consumer["username"]
    r = api.post(f"/consumers/{name}/basic-auth", json={})
    assert r.status_code == 400
    assert r.json()["fields"] == {"username": "required field missing", "password": "required field missing"}
    user = u("dup")
    created(api.post(f"/consumers/{name}/basic-auth", json={"username": user, "password": "a"}))
    r = api.post(f"/consumers/{other['username']}/basic-auth", json={"username": user, "password": "b"})
    assert (r.status_code, r.json()) == (409, unique_error("username", user))
    missing = str(uuid.uuid4())
    r = api.post("/basic-auths", json={"username": u("x"), "password": "p", "consumer": {"id": missing}})
    assert (r.status_code, r.json()) == (400, fk_error(missing))
    r = api.post("/basic-auths", json={"username": u("x")})
    assert r.status_code == 400
    assert r.json()["message"] == ("2 schema violations (consumer: required field missing; "
                                   "password: required field missing)")
    r = api.put(f"/basic-auths/{u('x')}", json={})
    assert r.json()["message"] == ("2 schema violations (consumer: required field missing; "
                                   "password: required field missing)")
    # a password with no consumer cannot be hashed either (Kong's transformation check)
    r = api.post("/basic-auths", json={"username": u("x"), "password": "p"})
    assert (r.status_code, r.json()["fields"]) == (400, {
        "consumer": "required field missing",
        "@entity": ["all or none of these fields must be set: 'password', 'consumer.id'"]})
    assert api.post("/consumers/ghost-consumer/basic-auth", json={"username": "g", "password": "p"}).status_code == 404
    r = api.put(f"/consumers/{name}/basic-auth/{uuid.uuid4()}", json={"username": 5})
    assert r.status_code == 400
    assert r.json()["fields"] == {"username": "expected a string", "password": "required field missing"}


def test_basic_auth_patch_and_put_rehash(api, consumer):
    name = consumer["username"]
    cred = created(api.post(f"/consumers/{name}/basic-auth", json={"username": u("p"), "password": "old"}))
    first = cred["password"]
    patched = created(api.patch(f"/consumers/{name}/basic-auth/{cred['id']}", json={"password": "new"}), 200)
    assert patched["password"] == sha1("new", consumer["id"]) != first
    renamed = created(api.patch(f"/consumers/{name}/basic-auth/{cred['id']}",
                                json={"username": u("Tyrion Lannister")}), 200)
    assert renamed["password"] == patched["password"]  # no password given: the hash is kept
    by_name = created(api.patch(f"/consumers/{name}/basic-auth/{renamed['username']}",
                                json={"password": "third"}), 200)
    assert by_name["password"] == sha1("third", consumer["id"])
    # at the top level, Kong's transformation check wants the consumer named with the password
    r = api.patch(f"/basic-auths/{cred['id']}", json={"password": "fourth"})
    assert (r.status_code, r.json()) == (400, MOVE_ERROR)
    top = created(api.patch(f"/basic-auths/{cred['id']}",
                            json={"password": "fourth", "consumer": {"id": consumer["id"]}}), 200)
    assert top["password"] == sha1("fourth", consumer["id"])
    assert created(api.patch(f"/basic-auths/{cred['id']}", json={"tags": ["t"]}), 200)["password"] == top["password"]
    r = api.patch(f"/consumers/{name}/basic-auth/{cred['id']}", json={"username": 123})
    assert (r.status_code, r.json()["fields"]) == (400, {"username": "expected a string"})
    # PUT creates by username, and replaces with the password hashed again
    robert = u("robert")
    put = created(api.put(f"/consumers/{name}/basic-auth/{robert}", json={"password": "r1"}), 200)
    assert (put["username"], put["consumer"], put["password"]) == (robert, {"id": consumer["id"]},
                                                                   sha1("r1", consumer["id"]))
    again = created(api.put(f"/consumers/{name}/basic-auth/{robert}", json={"password": "r2"}), 200)
    assert again["id"] == put["id"] and again["password"] == sha1("r2", consumer["id"])
    by_id = created(api.put(f"/basic-auths/{put['id']}", json={"username": robert, "password": "r3",
                                                               "consumer": {"id": consumer["id"]}}), 200)
    assert by_id["password"] == sha1("r3", consumer["id"]) and by_id["created_at"] == put["created_at"]


MOVE_ERROR = {"code": 2, "name": "schema violation",
              "message": "schema violation (all or none of these fields must be set: 'password', 'consumer.id')",
              "fields": {"@entity": ["all or none of these fields must be set: 'password', 'consumer.id'"]}}


def test_basic_auth_cannot_move_to_another_consumer_without_its_password(api, consumer, other):
    """The hash is salted with the consumer's id: Kong refuses a change of consumer that
    does not give the password again."""
    name = consumer["username"]
    cred = created(api.post(f"/consumers/{name}/basic-auth", json={"username": u("mv"), "password": "p"}))
    for path in (f"/basic-auths/{cred['username']}", f"/consumers/{name}/basic-auth/{cred['id']}"):
        r = api.patch(path, json={"consumer": {"id": other["id"]}})
        assert (r.status_code, r.json()) == (400, MOVE_ERROR), path
    assert api.get(f"/basic-auths/{cred['id']}").json() == cred
    moved = created(api.patch(f"/basic-auths/{cred['id']}",
                              json={"consumer": {"id": other["id"]}, "password": "p"}), 200)
    assert moved["consumer"] == {"id": other["id"]} and moved["password"] == sha1("p", other["id"])


def test_basic_auth_belongs_to_its_consumer_and_is_deleted(api, consumer, other):
    name = consumer["username"]
    cred = created(api.post(f"/consumers/{name}/basic-auth", json={"username": u("own"), "password": "p"}))
    for path in (f"/consumers/{other['username']}/basic-auth/{cred['id']}",
                 f"/consumers/{other['username']}/basic-auth/{cred['username']}"):
        assert api.get(path).status_code == 404
        assert api.patch(path, json={"password": "x"}).status_code == 404
        assert api.delete(path).status_code == 404
    assert api.get(f"/basic-auths/{cred['id']}/consumer").json() == consumer
    assert api.get(f"/basic-auths/{cred['username']}/consumer").json() == consumer
    assert api.get(f"/basic-auths/{uuid.uuid4()}/consumer").status_code == 404
    assert api.delete(f"/consumers/{name}/basic-auth/blah").status_code == 404
    assert api.delete(f"/consumers/{name}/basic-auth/{uuid.UUID(int=0)}").status_code == 404
    assert api.delete(f"/consumers/{name}/basic-auth/{cred['id']}").status_code == 204
    assert api.get(f"/basic-auths/{cred['id']}").status_code == 404


def test_basic_auth_pages_and_tags(api, consumer):
    name = consumer["username"]
    tag = u("tag")
    made = {created(api.post(f"/consumers/{name}/basic-auth",
                             json={"username": u(f"pg{i}"), "password": "p", "tags": [tag]}))["id"] for i in range(3)}
    assert len(api.get(f"/consumers/{name}/basic-auth").json()["data"]) == 3
    seen, page = [], api.get(f"/basic-auths?size=2&tags={tag}").json()
    assert len(page["data"]) == 2 and page["next"].startswith("/basic-auths?offset=")
    seen += [c["id"] for c in page["data"]]
    page = api.get(page["next"]).json()
    seen += [c["id"] for c in page["data"]]
    assert set(seen) == made and page["next"] is None
    nested = api.get(f"/consumers/{name}/basic-auth?size=1").json()
    assert nested["next"].startswith(f"/consumers/{name}/basic-auth?offset=")
    tagged = api.get(f"/tags/{tag}").json()["data"]
    assert {(t["entity_name"], t["entity_id"]) for t in tagged} == {("basicauth_credentials", i) for i in made}


# ------------------------------------------------------------------ acl


def test_acl_paths(api, consumer, other):
    name = consumer["username"]
    acl = created(api.post(f"/consumers/{name}/acls", json={"group": "hello"}))
    assert list(acl) == ["id", "created_at", "consumer", "group", "tags"]
    tagged = created(api.post(f"/consumers/{name}/acls/", json={"group": "tagged", "tags": ["t1"]}))
    assert tagged["tags"] == ["t1"]
    r = api.post(f"/consumers/{name}/acls", json={})
    assert (r.status_code, r.json()["fields"]) == (400, {"group": "required field missing"})
    # by id and by group, only under its own consumer
    assert api.get(f"/consumers/{name}/acls/{acl['id']}").json() == acl
    assert api.get(f"/consumers/{name}/acls/hello").json() == acl
    assert api.get(f"/consumers/{consumer['id']}/acls/hello").json() == acl
    assert api.get(f"/consumers/{other['username']}/acls/{acl['id']}").status_code == 404
    assert api.get(f"/consumers/{other['username']}/acls/hello").status_code == 404
    assert api.get("/consumers/ghost-consumer/acls/hello").status_code == 404
    # the same group under two consumers: each finds its own
    mine = created(api.post(f"/consumers/{name}/acls", json={"group": "foo"}))
    theirs = created(api.post(f"/consumers/{other['username']}/acls", json={"group": "foo"}))
    assert api.get(f"/consumers/{name}/acls/foo").json() == mine
    assert api.get(f"/consumers/{other['username']}/acls/foo").json() == theirs
    # one group once per consumer: Kong's cache key
    r = api.post(f"/consumers/{name}/acls", json={"group": "foo"})
    assert r.status_code == 409
    assert r.json()["name"] == "unique constraint violation" and r.json()["code"] == 5
    assert r.json()["fields"] == {"consumer": {"id": consumer["id"]}, "group": "foo"}
    # top level
    assert api.get(f"/acls/{acl['id']}").json() == acl
    assert api.get(f"/acls/{acl['id']}/consumer").json() == consumer
    assert api.get("/acls/hello").status_code == 400  # acls have no endpoint key
    r = api.post("/acls", json={"group": "g"})
    assert (r.status_code, r.json()["message"]) == (400, "schema violation (consumer: required field missing)")
    missing = str(uuid.uuid4())
    r = api.post("/acls", json={"group": "g", "consumer": {"id": missing}})
    assert (r.status_code, r.json()) == (400, fk_error(missing))
    listed = api.get("/acls?size=1000&tags=t1").json()["data"]
    assert tagged in listed


def test_acl_put_patch_delete_by_group(api, consumer, other):
    name = consumer["username"]
    pro = created(api.put(f"/consumers/{name}/acls/pro", json={}), 200)
    assert (pro["group"], pro["consumer"]) == ("pro", {"id": consumer["id"]})
    again = created(api.put(f"/consumers/{name}/acls/pro", json={"tags": ["x"]}), 200)
    assert again["id"] == pro["id"] and again["tags"] == ["x"]
    # the same group name under another consumer is another acl
    theirs = created(api.put(f"/consumers/{other['username']}/acls/pro"), 200)
    assert theirs["id"] != pro["id"]
    r = api.put(f"/consumers/{name}/acls/{uuid.uuid4()}", json={"group": 123})
    assert (r.status_code, r.json()["fields"]) == (400, {"group": "expected a string"})
    patched = created(api.patch(f"/consumers/{name}/acls/pro", json={"group": "updatedGroup"}), 200)
    assert patched["id"] == pro["id"] and patched["group"] == "updatedGroup"
    by_id = created(api.patch(f"/consumers/{name}/acls/{pro['id']}", json={"group": "updatedGroup2"}), 200)
    assert by_id["group"] == "updatedGroup2"
    r = api.patch(f"/consumers/{name}/acls/{pro['id']}", json={"group": 123})
    assert (r.status_code, r.json()["fields"]) == (400, {"group": "expected a string"})
    assert api.patch(f"/consumers/{name}/acls/nothing-here", json={"group": "x"}).status_code == 404
    assert api.delete(f"/consumers/{name}/acls/blah").status_code == 404
    assert api.delete(f"/consumers/{name}/acls/{uuid.UUID(int=0)}").status_code == 404
    assert api.delete(f"/consumers/{name}/acls/updatedGroup2").status_code == 204
    assert api.get(f"/acls/{pro['id']}").status_code == 404
    assert api.get(f"/consumers/{other['username']}/acls/pro").json() == theirs


# ------------------------------------------------------------------ jwt


@pytest.fixture(scope="module")
def rsa_public() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


CONDITIONAL = "failed conditional validation given value of field 'algorithm'"


def test_jwt_paths(api, consumer, other, rsa_public):
    name = consumer["username"]
    generated = created(api.post(f"/consumers/{name}/jwt/", json={}))
    assert list(generated) == ["id", "created_at", "consumer", "key", "secret", "rsa_public_key", "algorithm", "tags"]
    assert generated["algorithm"] == "HS256" and generated["rsa_public_key"] is None
    assert len(generated["key"]) == 32 and len(generated["secret"]) == 32
    key = u("bob2")
    given = created(api.post(f"/consumers/{name}/jwt/", json={"key": key, "secret": "tooshort"}))
    assert (given["key"], given["secret"]) == (key, "tooshort")
    # a PEM key posted as a form, CRLF line ends and all
    rs = created(api.post(f"/consumers/{name}/jwt/",
                          data={"algorithm": "RS256", "rsa_public_key": rsa_public.replace("\n", "\r\n")}))
    assert rs["algorithm"] == "RS256" and rs["rsa_public_key"] == rsa_public.replace("\n", "\r\n")
    r = api.post(f"/consumers/{name}/jwt/", json={"algorithm": "RS256"})
    assert (r.status_code, r.json()["fields"]) == (400, {"rsa_public_key": "required field missing",
                                                         "@entity": [CONDITIONAL]})
    r = api.post(f"/consumers/{name}/jwt/", json={"algorithm": "RS256", "rsa_public_key": "test"})
    assert (r.status_code, r.json()["fields"]) == (400, {"rsa_public_key": "invalid key", "@entity": [CONDITIONAL]})
    assert r.json()["code"] == 2 and "rsa_public_key: invalid key" in r.json()["message"]
    r = api.post(f"/consumers/{name}/jwt/", json={"algorithm": "none"})
    assert r.status_code == 400 and r.json()["fields"]["algorithm"].startswith("expected one of: HS256, HS384")
    r = api.post(f"/consumers/{other['username']}/jwt/", json={"key": key})
    assert (r.status_code, r.json()) == (409, unique_error("key", key))
    # by id and by key, nested and top level
    assert api.get(f"/consumers/{name}/jwt/{given['id']}").json() == given
    assert api.get(f"/consumers/{name}/jwt/{key}").json() == given
    assert api.get(f"/consumers/{other['username']}/jwt/{key}").status_code == 404
    assert api.get(f"/jwts/{key}").json() == given
    assert api.get(f"/jwts/{key}/consumer").json() == consumer
    assert api.get(f"/jwts/{given['id']}/consumer").json() == consumer
    assert len(api.get(f"/consumers/{name}/jwt").json()["data"]) == 3
    # PATCH: a keyed algorithm needs its key there too
    r = api.patch(f"/consumers/{name}/jwt/{given['id']}", json={"algorithm": "PS256"})
    assert (r.status_code, r.json()["fields"]) == (400, {"rsa_public_key": "required field missing",
                                                         "@entity": [CONDITIONAL]})
    patched = created(api.patch(f"/consumers/{name}/jwt/{key}",
                                json={"algorithm": "PS256", "rsa_public_key": rsa_public}), 200)
    assert patched["algorithm"] == "PS256" and patched["secret"] == "tooshort"
    new_key = u("k")
    put = created(api.put(f"/consumers/{name}/jwt/{new_key}", json={"secret": "s"}), 200)
    assert (put["key"], put["secret"], put["algorithm"]) == (new_key, "s", "HS256")
    missing = str(uuid.uuid4())
    r = api.post("/jwts", json={"consumer": {"id": missing}})
    assert (r.status_code, r.json()) == (400, fk_error(missing))
    assert api.delete(f"/consumers/{name}/jwt/blah").status_code == 404
    assert api.delete(f"/consumers/{name}/jwt/{given['id']}").status_code == 204
    assert api.get(f"/jwts/{key}").status_code == 404


# ------------------------------------------------------------------ hmac-auth


def test_hmac_auth_paths(api, consumer, other):
    name = consumer["username"]
    user = u("bob")
    cred = created(api.post(f"/consumers/{name}/hmac-auth/", json={"username": user, "secret": "1234"}))
    assert cred["consumer"] == {"id": consumer["id"]} and cred["secret"] == "1234"
    assert list(cred) == ["id", "created_at", "consumer", "username", "secret", "tags"]
    random = created(api.post(f"/consumers/{name}/hmac-auth/", json={"username": u("r"), "tags": ["a", "b"]}))
    assert len(random["secret"]) == 32 and random["tags"] == ["a", "b"]
    r = api.post(f"/consumers/{name}/hmac-auth/", json={})
    assert (r.status_code, r.json()["fields"]) == (400, {"username": "required field missing"})
    r = api.post(f"/consumers/{other['username']}/hmac-auth/", json={"username": user})
    assert (r.status_code, r.json()) == (409, unique_error("username", user))
    assert api.get(f"/consumers/{name}/hmac-auth/{cred['id']}").json() == cred
    assert api.get(f"/consumers/{name}/hmac-auth/{user}").json() == cred
    assert api.get(f"/consumers/{other['username']}/hmac-auth/{user}").status_code == 404
    alice = u("alice")
    assert created(api.patch(f"/consumers/{name}/hmac-auth/{cred['id']}", json={"username": alice}), 200)[
        "username"] == alice
    upd = u("aliceUPD")
    assert created(api.patch(f"/consumers/{name}/hmac-auth/{alice}", json={"username": upd}), 200)["username"] == upd
    r = api.patch(f"/consumers/{name}/hmac-auth/{cred['id']}", json={"username": ""})
    assert (r.status_code, r.json()["fields"]) == (400, {"username": "length must be at least 1"})
    foo = u("foo")
    put = created(api.put(f"/consumers/{name}/hmac-auth/{foo}", json={}), 200)
    assert (put["username"], put["consumer"]) == (foo, {"id": consumer["id"]}) and len(put["secret"]) == 32
    r = api.put(f"/consumers/{name}/hmac-auth/{foo}", json={"secret": 123})
    assert (r.status_code, r.json()["fields"]) == (400, {"secret": "expected a string"})
    assert api.delete(f"/consumers/{name}/hmac-auth/aliceasd").status_code == 404
    assert api.delete(f"/consumers/{name}/hmac-auth/{uuid.UUID(int=0)}").status_code == 404
    # top level
    page = api.get("/hmac-auths?size=1").json()
    assert len(page["data"]) == 1 and page["next"]
    second = api.get("/hmac-auths", params={"size": 1, "offset": page["offset"]}).json()
    assert len(second["data"]) == 1 and second["data"] != page["data"]
    r = api.post("/hmac-auths", json={"username": u("top")})
    assert (r.status_code, r.json()["message"]) == (400, "schema violation (consumer: required field missing)")
    top = created(api.post("/hmac-auths", json={"username": u("top"), "consumer": {"id": consumer["id"]}}))
    r = api.put(f"/hmac-auths/{u('h')}", json={})
    assert (r.status_code, r.json()["message"]) == (400, "schema violation (consumer: required field missing)")
    hp = u("h")
    assert created(api.put(f"/hmac-auths/{hp}", json={"consumer": {"id": consumer["id"]}}), 200)["username"] == hp
    assert api.get(f"/hmac-auths/{top['id']}/consumer").json() == consumer
    assert api.get(f"/hmac-auths/{top['username']}/consumer").json() == consumer
    assert api.get(f"/hmac-auths/{uuid.uuid4()}/consumer").status_code == 404
    assert api.get(f"/hmac-auths/{u('nobody')}/consumer").status_code == 404
    assert api.delete(f"/consumers/{name}/hmac-auth/{put['id']}").status_code == 204


# ------------------------------------------------------------------ every credential


def test_deleting_a_consumer_deletes_its_credentials(api):
    c = created(api.post("/consumers", json={"username": u("gone")}))
    base = f"/consumers/{c['id']}"
    made = [
        ("basic-auths", created(api.post(f"{base}/basic-auth", json={"username": u("b"), "password": "p"}))),
        ("acls", created(api.post(f"{base}/acls", json={"group": "g"}))),
        ("jwts", created(api.post(f"{base}/jwt", json={}))),
        ("hmac-auths", created(api.post(f"{base}/hmac-auth", json={"username": u("h")}))),
        ("key-auths", created(api.post(f"{base}/key-auth", json={}))),
    ]
    assert api.delete(base).status_code == 204
    for path, cred in made:
        assert api.get(f"/{path}/{cred['id']}").status_code == 404, path


def test_schemas_of_the_credentials(api):
    for name in ("basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials"):
        doc = api.get(f"/schemas/{name}").json()
        fields = {k: v for f in doc["fields"] for k, v in f.items()}
        assert fields["consumer"] == {"type": "foreign", "required": True, "reference": "consumers"}, name
    jwt = api.get("/schemas/jwt_secrets").json()
    assert jwt["entity_checks"][0]["conditional"]["then_match"] == {"required": True}
    r = api.post("/schemas/jwt_secrets/validate", json={"consumer": {"id": str(uuid.uuid4())},
                                                        "algorithm": "EdDSA", "rsa_public_key": "x"})
    assert (r.status_code, r.json()["fields"]) == (400, {"rsa_public_key": "invalid key", "@entity": [CONDITIONAL]})


def test_openapi_describes_kongs_credential_paths(api):
    paths = api.get("/openapi.json").json()["paths"]
    for collection, nested, param in (("basic-auths", "basic-auth", "basicauth_credentials"),
                                      ("acls", "acls", "acls"), ("jwts", "jwt", "jwt_secrets"),
                                      ("hmac-auths", "hmac-auth", "hmacauth_credentials")):
        for path in (f"/{collection}", f"/{collection}/{{{param}}}", f"/{collection}/{{{param}}}/consumer",
                     f"/consumers/{{consumers}}/{nested}", f"/consumers/{{consumers}}/{nested}/{{{param}}}"):
            assert path in paths, path
        post = paths[f"/consumers/{{consumers}}/{nested}"]["post"]
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        assert "consumer" not in schema.get("required", []), nested
    basic = paths["/basic-auths"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert sorted(basic["required"]) == ["consumer", "password", "username"]
    jwt = paths["/jwts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert jwt["required"] == ["consumer"]  # key and secret are generated, algorithm has a default
