"""Consumer groups over the cluster link (real PostgreSQL, real gRPC on loopback): memberships
and group plugins reach a data plane as deltas that its own checks and LMDB store apply, and a
config without groups is sent as it was before groups existed, so a data plane that does not
know them keeps getting configurations."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

from controlplane.cli import with_db
from controlplane.cluster import encoding
from dataplane.cluster.apply import ConfigApplier
from dataplane.declarative import DeclarativeConfigError, validate_flat
from dataplane.declarative.validate_flat import validate_delta
from dataplane.lmdb_cache import ConfigStore
from dataplane.schema import ENTITIES
from dataplane.schema.consumer_groups import membership_id
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane


@pytest.fixture
def cp_conf(postgres, tmp_path_factory):
    cert, key = shared_pair(tmp_path_factory.mktemp("certs"))
    conf = postgres.conf(postgres.create_database(), role="control_plane", cluster_cert=cert,
                         cluster_cert_key=key)
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf


def data_plane(cp: ControlPlane) -> TestDataPlane:
    cert = cp.conf.cluster_cert
    return TestDataPlane(cp.port, cert, cp.conf.cluster_cert_key, cert)


def payload(message) -> dict:
    body = message.delta if message.WhichOneof("kind") == "delta" else message.full
    return encoding.decode(body.payload, body.encoding)


async def applied(applier: ConfigApplier, message) -> None:
    """The message through the data plane's own checks into its LMDB store."""
    kind = message.WhichOneof("kind")
    outcome = await (applier.full(message.full) if kind == "full" else applier.delta(message.delta))
    assert outcome.applied, outcome.error


def test_memberships_and_group_plugins_reach_a_data_plane_as_deltas(cp_conf, tmp_path):
    store = ConfigStore(str(tmp_path / "lmdb"), 64 * 1024 * 1024)
    applier = ConfigApplier(store, lambda version, digest: None)
    with ControlPlane(cp_conf) as cp:
        group = cp.request("POST", "/consumer_groups", json={"name": "gold"}).json()
        alice = cp.request("POST", "/consumers", json={"username": "alice"}).json()
        cp.caught_up()

        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            first = await dp.receive_config()
            assert first.WhichOneof("kind") == "full"
            assert payload(first)["consumer_groups"] == [group]
            await applied(applier, first)

            # a membership: one row, its id the pair's
            r = await cp.arequest("POST", "/consumer_groups/gold/consumers", json={"consumer": "alice"})
            assert r.status_code == 201
            message = await dp.receive_config()
            assert message.WhichOneof("kind") == "delta"
            (row,) = payload(message)["upserts"]["consumer_group_consumers"]
            assert payload(message)["deletes"] == {}
            assert row["id"] == membership_id(group["id"], alice["id"])
            assert (row["consumer_group"], row["consumer"]) == ({"id": group["id"]}, {"id": alice["id"]})
            await applied(applier, message)
            assert store.entities("consumer_group_consumers") == [row]

            # a plugin scoped to the group
            plugin = (await cp.arequest("POST", "/consumer_groups/gold/plugins", json={"name": "response-transformer"})).json()
            message = await dp.receive_config()
            (sent,) = payload(message)["upserts"]["plugins"]
            assert sent == plugin and sent["consumer_group"] == {"id": group["id"]}
            await applied(applier, message)

            # removing the member from the consumer's side
            r = await cp.arequest("DELETE", "/consumers/alice/consumer_groups/gold")
            assert r.status_code == 204, r.text
            message = await dp.receive_config()
            assert payload(message) == {"upserts": {}, "deletes": {"consumer_group_consumers": [row["id"]]}}
            await applied(applier, message)
            assert store.entities("consumer_group_consumers") == []

            # deleting the group takes its plugin and memberships with it, in one delta
            await cp.arequest("POST", "/consumers/alice/consumer_groups", json={"group": "gold"})
            await applied(applier, await dp.receive_config())
            await cp.arequest("DELETE", "/consumer_groups/gold")
            message = await dp.receive_config()
            assert payload(message) == {"upserts": {}, "deletes": {
                "consumer_group_consumers": [row["id"]], "consumer_groups": [group["id"]],
                "plugins": [plugin["id"]]}}
            await applied(applier, message)
            stored = store.load()
            assert stored is not None and stored[1] == dp.config_hash
            assert not stored[2].get("consumer_groups") and not stored[2].get("plugins")
            await dp.close()

        asyncio.run(scenario())
    store.close()


def _without_groups() -> dict:
    """The entity schemas of a data plane built before consumer groups existed."""
    old = {name: schema for name, schema in ENTITIES.items()
           if name not in ("consumer_groups", "consumer_group_consumers")}
    plugins = old["plugins"]
    fields = tuple((n, f) for n, f in plugins.fields if n != "consumer_group")
    old["plugins"] = dataclasses.replace(plugins, fields=fields)
    return old


@pytest.fixture
def older_data_plane_schemas():
    """Swaps in the older schemas for validation (one dict, shared by every module)."""
    saved = dict(ENTITIES)

    def swap() -> None:
        older = _without_groups()
        ENTITIES.clear()
        ENTITIES.update(older)

    yield swap
    ENTITIES.clear()
    ENTITIES.update(saved)


def test_a_config_without_groups_is_what_an_older_data_plane_reads(cp_conf, older_data_plane_schemas):
    with ControlPlane(cp_conf) as cp:
        cp.request("POST", "/services", json={"name": "s", "url": "http://a.test"})
        glob = cp.request("POST", "/plugins", json={"name": "response-transformer"}).json()
        assert glob["consumer_group"] is None  # the Admin API shows Kong Enterprise's null
        cp.caught_up()

        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            full = payload(await dp.receive_config())
            assert "consumer_groups" not in full and "consumer_group_consumers" not in full
            assert "consumer_group" not in full["plugins"][0]
            await cp.arequest("PATCH", f"/plugins/{glob['id']}", json={"enabled": False})
            delta = payload(await dp.receive_config())
            group = (await cp.arequest("POST", "/consumer_groups", json={"name": "g"})).json()
            added = payload(await dp.receive_config())
            await cp.arequest("POST", "/consumer_groups/g/plugins", json={"name": "response-transformer"})
            scoped = payload(await dp.receive_config())
            await dp.close()
            return full, delta, added, scoped, group

        full, delta, added, scoped, group = asyncio.run(scenario())

    validate_flat(full, plugins={"response-transformer"})  # a data plane of this build reads it too
    older_data_plane_schemas()
    validate_flat(full, plugins={"response-transformer"})
    assert "consumer_group" not in delta["upserts"]["plugins"][0]
    with pytest.raises(DeclarativeConfigError, match="consumer_groups"):
        validate_delta(added["upserts"], added["deletes"], _NoStored(), plugins={"response-transformer"})
    with pytest.raises(DeclarativeConfigError, match="unknown field"):
        validate_delta({"plugins": scoped["upserts"]["plugins"]}, {}, _NoStored(), plugins={"response-transformer"})
    assert group["name"] == "g"


class _NoStored:
    """A stored config with nothing in it (the delta checks look up through this)."""

    def has(self, entity_type: str, entity_id: str) -> bool:
        return False

    def get(self, entity_type: str, entity_id: str):
        return None

    def referrers(self, entity_type: str, entity_id: str):
        return []

    def unique_owner(self, entity_type: str, field: str, value):
        return None

