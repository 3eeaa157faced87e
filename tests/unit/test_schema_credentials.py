"""The credential entities (basic-auth, acl, jwt, hmac-auth, key-auth): schemas, Kong's messages,
basic-auth's password hash, and their kong.yml forms (nesting, references, `_transform`,
stable auto values)."""
import copy
import hashlib
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dataplane.declarative import DeclarativeConfigError, config_hash, ids, parse_text, validate_flat
from dataplane.declarative.validate_flat import validate_delta
from dataplane.lmdb_cache import ConfigStore
from dataplane.schema import ENTITIES, get_schema, process, schema_json, transform, transformation_errors
from dataplane.schema.credentials import JWT_ALGORITHMS, hash_password

CONSUMER = {"id": "5f8e2c5e-7c6b-4f3e-9a51-0e5b6d7c8a9b"}
CREDENTIALS = ["keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials"]
CONDITIONAL = "failed conditional validation given value of field 'algorithm'"


def _pem_public(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def rsa_public():
    return _pem_public(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def errors(entity, data):
    _, err = process(entity, data, now=1)
    return err


def test_registered_after_consumers_before_plugins():
    names = list(ENTITIES)
    at = names.index("consumers")
    assert names[at + 1:at + 1 + len(CREDENTIALS)] == CREDENTIALS
    assert names.index("plugins") > at + len(CREDENTIALS)
    for name in CREDENTIALS:
        s = get_schema(name)
        assert [n for n, _ in s.fields][:3] == ["id", "created_at", "consumer"]
        assert s.references == (("consumer", "consumers"),)
        assert s.fields_by_name["consumer"].required


def test_kong_keys():
    assert get_schema("basicauth_credentials").endpoint_key == "username"
    assert get_schema("basicauth_credentials").cache_key == ("username",)
    assert get_schema("acls").endpoint_key is None
    assert get_schema("acls").cache_key == ("consumer", "group")
    assert get_schema("jwt_secrets").endpoint_key == "key"
    assert get_schema("jwt_secrets").cache_key == ("key",)
    assert get_schema("hmacauth_credentials").endpoint_key == "username"
    assert get_schema("hmacauth_credentials").cache_key == ("username",)


def test_basicauth_fields():
    cred, err = process("basicauth_credentials", {"consumer": CONSUMER, "username": "bob", "password": "kong"}, now=7)
    assert err is None
    assert list(cred) == ["id", "created_at", "consumer", "username", "password", "tags"]
    assert cred["created_at"] == 7 and uuid.UUID(cred["id"])
    assert cred["password"] == "kong"  # process validates; the hash is a transformation
    assert errors("basicauth_credentials", {}) == {
        "consumer": "required field missing", "username": "required field missing",
        "password": "required field missing"}
    assert errors("basicauth_credentials", {"consumer": CONSUMER, "username": 5, "password": "p"}) == {
        "username": "expected a string"}
    assert get_schema("basicauth_credentials").fields_by_name["username"].unique


def test_password_hash_is_sha1_of_password_then_consumer_id():
    cid = CONSUMER["id"]
    assert hash_password(cid, "kong") == hashlib.sha1(("kong" + cid).encode()).hexdigest()
    assert hash_password(cid, " kong ") == hashlib.sha1((" kong " + cid).encode()).hexdigest()
    assert hash_password(cid, None) == hashlib.sha1(cid.encode()).hexdigest()
    assert hash_password(cid, "pässword") == hashlib.sha1(("pässword" + cid).encode("utf-8")).hexdigest()


def test_transform_on_insert_and_update():
    schema = get_schema("basicauth_credentials")
    cred, _ = process("basicauth_credentials", {"consumer": CONSUMER, "username": "bob", "password": "kong"}, now=1)
    hashed = transform(schema, dict(cred))["password"]
    assert hashed == hash_password(CONSUMER["id"], "kong")
    stored = {**cred, "password": hashed}
    # an update naming no password keeps the stored hash; one naming it hashes the new one
    assert transform(schema, {**stored, "username": "robert"}, {"username": "robert"})["password"] == hashed
    again = transform(schema, {**stored, "password": "new"}, {"password": "new"})
    assert again["password"] == hash_password(CONSUMER["id"], "new")
    # no consumer id: nothing to salt with, so no transformation (validation refuses it anyway)
    assert transform(schema, {"username": "x", "password": "p", "consumer": None})["password"] == "p"
    # entities without transformations are returned as they are
    acl = {"group": "g", "consumer": CONSUMER}
    assert transform(get_schema("acls"), dict(acl)) == acl


def test_acl_fields():
    acl, err = process("acls", {"consumer": CONSUMER, "group": "admins", "tags": ["a"]}, now=1)
    assert err is None and list(acl) == ["id", "created_at", "consumer", "group", "tags"]
    assert errors("acls", {"consumer": CONSUMER}) == {"group": "required field missing"}
    assert errors("acls", {"group": "g"}) == {"consumer": "required field missing"}
    assert errors("acls", {"consumer": CONSUMER, "group": ["g"]}) == {"group": "expected a string"}


def test_jwt_defaults_and_autos():
    a, err = process("jwt_secrets", {"consumer": CONSUMER}, now=1)
    b, _ = process("jwt_secrets", {"consumer": CONSUMER}, now=1)
    assert err is None
    assert list(a) == ["id", "created_at", "consumer", "key", "secret", "rsa_public_key", "algorithm", "tags"]
    assert a["algorithm"] == "HS256" and a["rsa_public_key"] is None
    for field in ("key", "secret"):
        assert len(a[field]) == 32 and int(a[field], 16) >= 0 and a[field] != b[field]
    given, _ = process("jwt_secrets", {"consumer": CONSUMER, "key": "k", "secret": "s", "algorithm": "HS512"}, now=1)
    assert (given["key"], given["secret"], given["algorithm"]) == ("k", "s", "HS512")


def test_jwt_algorithms():
    assert JWT_ALGORITHMS == ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
                              "PS256", "PS384", "PS512", "EdDSA")
    assert errors("jwt_secrets", {"consumer": CONSUMER, "algorithm": "none"}) == {
        "algorithm": "expected one of: " + ", ".join(JWT_ALGORITHMS)}
    for alg in ("HS256", "HS384", "HS512", "ES256", "ES384", "ES512"):
        assert errors("jwt_secrets", {"consumer": CONSUMER, "algorithm": alg}) is None, alg


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"])
def test_jwt_keyed_algorithms_need_a_key(alg, rsa_public):
    assert errors("jwt_secrets", {"consumer": CONSUMER, "algorithm": alg}) == {
        "rsa_public_key": "required field missing", "@entity": [CONDITIONAL]}
    assert errors("jwt_secrets", {"consumer": CONSUMER, "algorithm": alg, "rsa_public_key": "test"}) == {
        "rsa_public_key": "invalid key", "@entity": [CONDITIONAL]}
    assert errors("jwt_secrets", {"consumer": CONSUMER, "algorithm": alg, "rsa_public_key": rsa_public}) is None


def test_jwt_key_forms(rsa_public):
    ok = {"consumer": CONSUMER, "algorithm": "RS256"}
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed = ed25519.Ed25519PrivateKey.generate()
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    good = [
        rsa_public,
        rsa_public.replace("\n", "\r\n"),
        private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
        _pem_public(ed),
        _pem_public(ecdsa),
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode(),
    ]
    for key in good:
        assert errors("jwt_secrets", {**ok, "rsa_public_key": key}) is None
    bad = [
        "",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        rsa_public[:200],
        rsa_public.replace("PUBLIC KEY", "CERTIFICATE"),
        "\x00\xff" * 10,
    ]
    for key in bad:
        err = errors("jwt_secrets", {**ok, "rsa_public_key": key})
        assert err is not None and "rsa_public_key" in err, repr(key)
    # a key with an algorithm that needs none is stored unchecked, as Kong does
    assert errors("jwt_secrets", {"consumer": CONSUMER, "rsa_public_key": "test"}) is None


def test_hmac_fields():
    cred, err = process("hmacauth_credentials", {"consumer": CONSUMER, "username": "h"}, now=1)
    assert err is None and list(cred) == ["id", "created_at", "consumer", "username", "secret", "tags"]
    assert len(cred["secret"]) == 32
    assert errors("hmacauth_credentials", {"consumer": CONSUMER}) == {"username": "required field missing"}
    assert get_schema("hmacauth_credentials").fields_by_name["username"].unique


def test_schema_json_of_jwt_secrets():
    doc = schema_json("jwt_secrets")
    fields = {k: v for f in doc["fields"] for k, v in f.items()}
    assert fields["key"] == {"type": "string", "unique": True, "auto": True}
    assert fields["secret"] == {"type": "string", "auto": True}
    assert fields["algorithm"]["default"] == "HS256"
    assert fields["algorithm"]["one_of"] == list(JWT_ALGORITHMS)
    assert fields["consumer"] == {"type": "foreign", "required": True, "reference": "consumers"}
    (check,) = doc["entity_checks"]
    cond = check["conditional"]
    assert cond["if_field"] == "algorithm" and cond["then_field"] == "rsa_public_key"
    assert cond["if_match"] == {"match_any": {"patterns": ["^RS256$", "^RS384$", "^RS512$", "^PS256$",
                                                           "^PS384$", "^PS512$", "^EdDSA$"]}}
    assert cond["then_match"] == {"required": True}
    for name in CREDENTIALS:
        schema_json(name)  # JSON-shaped for every credential


# ------------------------------------------------------------------ kong.yml

NESTED = """
_format_version: "3.0"
consumers:
- username: bob
  keyauth_credentials:
  - {}
  basicauth_credentials:
  - username: bob
    password: kong
  acls:
  - group: admins
  - group: ops
  jwt_secrets:
  - {}
  - key: given-key
    secret: given-secret
    algorithm: HS512
  hmacauth_credentials:
  - username: bob-hmac
- username: alice
"""

TOPLEVEL = """
_format_version: "3.0"
consumers:
- username: bob
- id: 0b4f7d5a-61a1-4c49-a3fa-c4b8bde0a0b3
  username: alice
basicauth_credentials:
- consumer: bob
  username: bob
  password: kong
acls:
- consumer: 0b4f7d5a-61a1-4c49-a3fa-c4b8bde0a0b3
  group: admins
jwt_secrets:
- consumer: {id: 0b4f7d5a-61a1-4c49-a3fa-c4b8bde0a0b3}
  key: alice-key
hmacauth_credentials:
- consumer: bob
  username: bob-hmac
  secret: s3cr3t
"""


def _consumer(flat, username):
    (c,) = [c for c in flat["consumers"] if c["username"] == username]
    return c


def test_nested_credentials_load():
    flat = parse_text(NESTED)
    bob = _consumer(flat, "bob")
    for name in CREDENTIALS:
        assert flat[name], name
        for e in flat[name]:
            assert e["consumer"] == {"id": bob["id"]}
            assert [n for n, _ in get_schema(name).fields] == list(e)
    (basic,) = flat["basicauth_credentials"]
    assert basic["password"] == hash_password(bob["id"], "kong")
    assert sorted(a["group"] for a in flat["acls"]) == ["admins", "ops"]
    derived, given = flat["jwt_secrets"]
    assert (given["key"], given["secret"], given["algorithm"]) == ("given-key", "given-secret", "HS512")
    assert len(derived["key"]) == 32 and len(derived["secret"]) == 32 and derived["key"] != derived["secret"]
    assert derived["algorithm"] == "HS256"
    (hmac,) = flat["hmacauth_credentials"]
    assert len(hmac["secret"]) == 32


def test_reloads_give_the_same_config():
    first, second = parse_text(NESTED), parse_text(NESTED)
    assert first == second
    # the derivation of key-auth keys is the one shipped before: stored keys do not change
    (cred,) = first["keyauth_credentials"]
    assert cred["key"] == uuid.uuid5(uuid.uuid5(uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5"),
                                                "keyauth_credentials"), f"key:{cred['id']}").hex
    assert ids.auto_fields("jwt_secrets") == ("key", "secret")
    assert ids.auto_fields("hmacauth_credentials") == ("secret",)
    assert ids.auto_fields("basicauth_credentials") == ()


def test_toplevel_credentials_reference_consumers():
    flat = parse_text(TOPLEVEL)
    bob, alice = _consumer(flat, "bob"), _consumer(flat, "alice")
    assert flat["basicauth_credentials"][0]["consumer"] == {"id": bob["id"]}
    assert flat["basicauth_credentials"][0]["password"] == hash_password(bob["id"], "kong")
    assert flat["acls"][0]["consumer"] == {"id": alice["id"]}
    assert flat["jwt_secrets"][0]["consumer"] == {"id": alice["id"]}
    assert flat["jwt_secrets"][0]["key"] == "alice-key"
    assert flat["hmacauth_credentials"][0]["secret"] == "s3cr3t"


def test_transform_false_keeps_stored_passwords():
    stored = hash_password("0b4f7d5a-61a1-4c49-a3fa-c4b8bde0a0b3", "kong")
    doc = TOPLEVEL.replace("password: kong", f"password: {stored}")
    kept = parse_text(doc.replace('_format_version: "3.0"', '_format_version: "3.0"\n_transform: false'))
    assert kept["basicauth_credentials"][0]["password"] == stored
    hashed = parse_text(doc.replace('_format_version: "3.0"', '_format_version: "3.0"\n_transform: true'))
    bob = _consumer(hashed, "bob")
    assert hashed["basicauth_credentials"][0]["password"] == hash_password(bob["id"], stored)
    assert parse_text(doc)["basicauth_credentials"][0]["password"] == hashed["basicauth_credentials"][0]["password"]


def fail(text):
    with pytest.raises(DeclarativeConfigError) as info:
        parse_text(text)
    return info.value


def test_bad_credentials_in_kong_yml():
    e = fail('_format_version: "3.0"\nconsumers:\n- username: bob\n  basicauth_credentials:\n'
             '  - username: bob\n')
    assert e.fields == {"consumers": [{"basicauth_credentials": [{"password": "required field missing"}]}]}
    e = fail('_format_version: "3.0"\nconsumers:\n- username: bob\n  basicauth_credentials:\n'
             '  - {username: bob, password: a}\n  - {username: bob, password: b}\n')
    assert e.fields["consumers"][0]["basicauth_credentials"][1] == {"@entity": [
        "uniqueness violation: 'basicauth_credentials' entity with username set to 'bob' already declared"]}
    e = fail('_format_version: "3.0"\nconsumers:\n- username: a\n  jwt_secrets: [{key: k}]\n'
             '- username: b\n  jwt_secrets: [{key: k}]\n')
    assert e.fields["consumers"][1]["jwt_secrets"][0] == {"@entity": [
        "uniqueness violation: 'jwt_secrets' entity with key set to 'k' already declared"]}
    e = fail('_format_version: "3.0"\nacls:\n- consumer: ghost\n  group: g\n')
    assert e.fields == {"acls": [{"@entity": [
        "invalid reference 'consumer: ghost' (no such entry in 'consumers')"]}]}
    e = fail('_format_version: "3.0"\nconsumers:\n- username: bob\n  jwt_secrets:\n'
             '  - algorithm: RS256\n    rsa_public_key: nope\n')
    assert e.fields["consumers"][0]["jwt_secrets"][0] == {"rsa_public_key": "invalid key",
                                                          "@entity": [CONDITIONAL]}
    e = fail('_format_version: "3.0"\nhmacauth_credentials:\n- username: h\n')
    assert e.fields == {"hmacauth_credentials": [{"consumer": "required field missing"}]}


def test_a_control_planes_config_is_checked_not_transformed():
    """What a control plane sends is in stored form: checked as it is, never hashed again."""
    flat = parse_text(NESTED)
    before = copy.deepcopy(flat)
    validate_flat(flat)
    assert flat == before
    twice = copy.deepcopy(flat)
    extra = dict(twice["basicauth_credentials"][0], id=str(uuid.uuid4()))
    twice["basicauth_credentials"].append(extra)
    twice["jwt_secrets"].append(dict(twice["jwt_secrets"][1], id=str(uuid.uuid4())))
    with pytest.raises(DeclarativeConfigError) as info:
        validate_flat(twice)
    text = str(info.value)
    assert "'basicauth_credentials' entity with username set to 'bob' already declared" in text
    assert "'jwt_secrets' entity with key set to 'given-key' already declared" in text
    dangling = copy.deepcopy(flat)
    dangling["acls"][0]["consumer"] = {"id": str(uuid.uuid4())}
    with pytest.raises(DeclarativeConfigError):
        validate_flat(dangling)
    bad_key = copy.deepcopy(flat)
    bad_key["jwt_secrets"][0].update(algorithm="EdDSA", rsa_public_key="nope")
    with pytest.raises(DeclarativeConfigError) as info:
        validate_flat(bad_key)
    assert "invalid key" in str(info.value)


def test_deltas_on_a_stored_config_keep_credentials_unique_and_attached(tmp_path):
    """A control plane's delta is checked against the stored config by lookups: a username or
    key another stored credential holds, or a consumer the config lacks, refuses it; deleting a
    consumer its stored credentials point at needs them deleted too."""
    flat = parse_text(NESTED)
    store = ConfigStore(str(tmp_path / "lmdb"), 16 << 20)
    try:
        store.apply(flat, *config_hash(flat), version=1)

        def apply(upserts, deletes=None):
            def check(stored):
                validate_delta(upserts, deletes or {}, stored)
            version = store.current()[0]
            store.apply_delta(version, version + 1, upserts, deletes or {}, "h", {}, check=check)

        (basic,) = flat["basicauth_credentials"]
        alice = _consumer(flat, "alice")
        with pytest.raises(DeclarativeConfigError, match="username set to 'bob'"):
            apply({"basicauth_credentials": [{**basic, "id": str(uuid.uuid4()), "consumer": {"id": alice["id"]}}]})
        given = flat["jwt_secrets"][1]
        with pytest.raises(DeclarativeConfigError, match="key set to 'given-key'"):
            apply({"jwt_secrets": [{**given, "id": str(uuid.uuid4())}]})
        with pytest.raises(DeclarativeConfigError, match="invalid reference"):
            apply({"acls": [{**flat["acls"][0], "id": str(uuid.uuid4()), "consumer": {"id": str(uuid.uuid4())}}]})
        bob = _consumer(flat, "bob")
        with pytest.raises(DeclarativeConfigError):
            apply({}, {"consumers": [bob["id"]]})
        assert store.current()[0] == 1  # nothing refused was written
        # the credential moved to alice under a new username: accepted, then the old name is free
        apply({"basicauth_credentials": [{**basic, "username": "alice", "consumer": {"id": alice["id"]}}]})
        apply({"hmacauth_credentials": [{**flat["hmacauth_credentials"][0], "id": str(uuid.uuid4()),
                                         "username": "bob"}]})
        of_bob = {name: [e["id"] for e in store.entities(name) if e["consumer"] == {"id": bob["id"]}]
                  for name in CREDENTIALS}
        assert of_bob["hmacauth_credentials"] and of_bob["acls"]
        apply({}, {"consumers": [bob["id"]], **of_bob})
        assert store.entities("consumers") == [alice]
        assert [e["username"] for e in store.entities("basicauth_credentials")] == ["alice"]
        assert all(e["consumer"] == {"id": alice["id"]} for name in CREDENTIALS for e in store.entities(name))
    finally:
        store.close()


def test_transformation_checks():
    """Kong's run_transformation_checks for basic-auth: the password and the consumer's id go
    together whenever a write names the password or changes the consumer."""
    schema = get_schema("basicauth_credentials")
    both = "all or none of these fields must be set: 'password', 'consumer.id'"
    stored = {"id": "x", "consumer": CONSUMER, "username": "u", "password": "h"}
    other = {"id": "6a0c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4"}
    # inserts: a password needs a consumer
    assert transformation_errors(schema, {"username": "u", "password": "p", "consumer": CONSUMER}) == []
    assert transformation_errors(schema, {"username": "u", "password": "p", "consumer": None}) == [both]
    assert transformation_errors(schema, {"username": "u", "password": None, "consumer": None}) == []
    # updates: what the write names, against what is stored
    merged = {**stored, "username": "v"}
    assert transformation_errors(schema, merged, {"username": "v", "consumer": CONSUMER}, stored) == []
    assert transformation_errors(schema, merged, {"username": "v"}, stored) == []
    moved = {**stored, "consumer": other}
    assert transformation_errors(schema, moved, {"consumer": other}, stored) == [both]
    assert transformation_errors(schema, moved, {"consumer": other, "password": "p"}, stored) == []
    new = {**stored, "password": "p"}
    assert transformation_errors(schema, new, {"password": "p", "consumer": CONSUMER}, stored) == []
    assert transformation_errors(schema, new, {"password": "p"}, stored) == [both]  # Kong's quirk
    assert transformation_errors(get_schema("acls"), {"group": "g"}) == []
