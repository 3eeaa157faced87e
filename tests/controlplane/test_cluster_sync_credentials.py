"""Credentials written through the Admin API reach a data plane as deltas over a real gRPC
stream (TLS on loopback, a real PostgreSQL): each write is one delta naming only the credential
(basic-auth's password hashed as stored), a consumer's delete takes its credentials along, and
every message is applied the way a data plane applies it (checked, then written to LMDB)."""
from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controlplane.cli import with_db
from controlplane.cluster import encoding
from dataplane.cluster.apply import ConfigApplier
from dataplane.declarative import DeclarativeConfigError, config_hash, validate_flat
from dataplane.lmdb_cache.lmdb_writer import ConfigStore
from dataplane.schema import ENTITIES
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane

CREDENTIALS = ("keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials")


@pytest.fixture
def cp_conf(postgres, tmp_path_factory):
    cert, key = shared_pair(tmp_path_factory.mktemp("certs"))
    conf = postgres.conf(postgres.create_database(), role="control_plane", cluster_cert=cert,
                         cluster_cert_key=key)
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf


def payload(message) -> dict:
    body = message.delta if message.WhichOneof("kind") == "delta" else message.full
    return encoding.decode(body.payload, body.encoding)


def test_credentials_reach_a_data_plane_as_deltas(cp_conf, tmp_path):
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    store = ConfigStore(str(tmp_path / "lmdb"), 64 << 20)
    applier = ConfigApplier(store, lambda version, config_hash: None)
    with ControlPlane(cp_conf) as cp:
        consumer = cp.request("POST", "/consumers", json={"username": "bob"}).json()
        first = cp.request("POST", "/consumers/bob/basic-auth", json={"username": "bob", "password": "kong"}).json()
        cp.caught_up()

        async def scenario():
            dp = TestDataPlane(cp.port, cp.conf.cluster_cert, cp.conf.cluster_cert_key, cp.conf.cluster_cert)
            await dp.connect()
            full = await dp.receive_config()
            assert full.WhichOneof("kind") == "full"
            assert payload(full)["basicauth_credentials"] == [first]
            assert (await applier.full(full.full)).applied

            async def delta() -> dict:
                message = await dp.receive_config()
                assert message.WhichOneof("kind") == "delta"
                outcome = await applier.delta(message.delta)
                assert outcome.applied, outcome.error
                return payload(message)

            writes = [
                ("basicauth_credentials", "/consumers/bob/basic-auth", {"username": "bob2", "password": "pw"}),
                ("acls", "/consumers/bob/acls", {"group": "admins"}),
                ("jwt_secrets", "/consumers/bob/jwt", {"key": "bob-jwt"}),
                ("jwt_secrets", "/consumers/bob/jwt", {"key": "bob-rsa", "algorithm": "RS256",
                                                       "rsa_public_key": public}),
                ("hmacauth_credentials", "/consumers/bob/hmac-auth", {"username": "bob-hmac"}),
                ("keyauth_credentials", "/consumers/bob/key-auth", {"key": "bob-key"}),
            ]
            rows = {}
            for entity, path, body in writes:
                r = await cp.arequest("POST", path, json=body)
                assert r.status_code == 201, r.text
                assert await delta() == {"upserts": {entity: [r.json()]}, "deletes": {}}
                rows[r.json()["id"]] = r.json()
            hashed = rows[next(i for i, row in rows.items() if row.get("username") == "bob2")]
            assert hashed["password"] == hashlib.sha1(("pw" + consumer["id"]).encode()).hexdigest()

            # an update: the new stored form, hashed again
            r = await cp.arequest("PATCH", f"/consumers/bob/basic-auth/{first['id']}", json={"password": "new"})
            assert await delta() == {"upserts": {"basicauth_credentials": [r.json()]}, "deletes": {}}
            assert r.json()["password"] == hashlib.sha1(("new" + consumer["id"]).encode()).hexdigest()
            # the hash the control plane sent is Kong's hash of what the data plane now holds
            _, sent_hash, flat = store.load()
            assert config_hash(flat)[0] == sent_hash
            stored = {name: {e["id"]: e for e in store.entities(name)} for name in CREDENTIALS}
            assert stored["basicauth_credentials"][first["id"]] == r.json()
            for i, row in rows.items():
                assert any(s.get(i) == row for s in stored.values())

            # a delete of the consumer takes every credential with it, in one delta
            await cp.arequest("DELETE", "/consumers/bob")
            gone = await delta()
            assert gone["upserts"] == {}
            assert {name: sorted(ids) for name, ids in gone["deletes"].items()} == {
                "consumers": [consumer["id"]],
                **{name: sorted(stored[name]) for name in CREDENTIALS},
            }
            assert all(store.entities(name) == [] for name in CREDENTIALS)
            await dp.close()

        cp.run(scenario())
    store.close()


NEW_TYPES = ("basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials")


def test_a_config_without_the_new_credentials_is_what_an_older_data_plane_reads(cp_conf):
    """A data plane built before these credential types refuses a config naming them, even
    empty: until one is used, the sections are left out (the hashes are those of before)."""
    with ControlPlane(cp_conf) as cp:
        cp.request("POST", "/consumers", json={"username": "bob"})
        cp.request("POST", "/consumers/bob/key-auth", json={"key": "k"})
        cp.caught_up()

        async def scenario():
            dp = TestDataPlane(cp.port, cp.conf.cluster_cert, cp.conf.cluster_cert_key, cp.conf.cluster_cert)
            await dp.connect()
            message = await dp.receive_config()
            await cp.arequest("POST", "/consumers/bob/acls", json={"group": "g"})
            delta = payload(await dp.receive_config())
            await dp.close()
            return message, delta

        message, delta = cp.run(scenario())
    full = payload(message)
    assert not set(NEW_TYPES) & set(full) and full["keyauth_credentials"]
    assert config_hash(full)[0] == message.full.hash
    assert list(delta["upserts"]) == ["acls"]
    # an older data plane's schemas; the dict is put back whole, in its order (the flat
    # config's order is the dict's)
    saved = dict(ENTITIES)
    try:
        for name in NEW_TYPES:
            del ENTITIES[name]
        validate_flat(full)
        with pytest.raises(DeclarativeConfigError, match="unknown field"):
            validate_flat({**full, "acls": []})
    finally:
        ENTITIES.clear()
        ENTITIES.update(saved)
