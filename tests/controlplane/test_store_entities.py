"""EntityStore against a real PostgreSQL: CRUD, constraints, cascades and the change log."""
from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from controlplane.cli import with_db
from controlplane.database import Database, ForeignKeyViolation, NotFound, ReferencedByOthers, UniqueViolation
from dataplane.schema import process
from tests.support.waiting import wait_for_async


def entity(entity_type: str, **data) -> dict:
    row, errors = process(entity_type, data, now=1700000000)
    assert errors is None, errors
    return row


def service(**data) -> dict:
    return entity("services", **{"host": "example.com", **data})


async def changes_since(db: Database, version: int) -> list[tuple]:
    async with db._pool.acquire() as c:
        rows = await c.fetch('SELECT "version", "entity", "entity_id"::text, "op" FROM "change_log" '
                             'WHERE "version" > $1 ORDER BY "version", "entity", "entity_id"', version)
    return [tuple(r) for r in rows]


def test_insert_get_update_delete(db_conf):
    async def scenario(db: Database):
        row = service(name="crud", tags=["t1"])
        assert await db.entities.insert("services", row) == row
        assert await db.entities.get("services", row["id"]) == row
        assert await db.entities.get_by_key("services", "crud") == row
        assert await db.entities.get_by_key("services", row["id"]) == row
        assert await db.entities.get("services", "not-a-uuid") is None
        assert await db.entities.get("services", str(uuid.uuid4())) is None
        changed = {**row, "host": "other.example.com"}
        assert await db.entities.update("services", row["id"], changed) == changed
        assert (await db.entities.get("services", row["id"]))["host"] == "other.example.com"
        with pytest.raises(NotFound):
            await db.entities.update("services", str(uuid.uuid4()), changed)
        assert await db.entities.delete("services", row["id"]) is True
        assert await db.entities.delete("services", row["id"]) is False
        assert await db.entities.get("services", row["id"]) is None

    with_db(db_conf, scenario)


def test_get_by_key_uses_each_endpoint_key(db_conf):
    async def scenario(db: Database):
        consumer = await db.entities.insert("consumers", entity("consumers", username="ek-user"))
        assert await db.entities.get_by_key("consumers", "ek-user") == consumer
        cred = await db.entities.insert("keyauth_credentials", entity(
            "keyauth_credentials", key="ek-key", consumer={"id": consumer["id"]}))
        assert await db.entities.get_by_key("keyauth_credentials", "ek-key") == cred
        # a uuid-looking name still resolves by name when no such id exists (Kong's lookup)
        odd = str(uuid.uuid4())
        named = await db.entities.insert("services", service(name=odd))
        assert await db.entities.get_by_key("services", odd) == named
        assert await db.entities.get_by_key("certificates", "anything") is None

    with_db(db_conf, scenario)


def test_upsert_creates_then_replaces(db_conf):
    async def scenario(db: Database):
        row = service(name="upserted")
        before = await db.entities.current_version()
        assert await db.entities.upsert("services", row) == (row, True)
        replaced = {**row, "port": 8080}
        assert await db.entities.upsert("services", replaced) == (replaced, False)
        assert (await db.entities.get("services", row["id"]))["port"] == 8080
        ops = [c[3] for c in await changes_since(db, before)]
        assert ops == ["insert", "update"]

    with_db(db_conf, scenario)


def test_unique_violations_name_the_fields(db_conf):
    async def scenario(db: Database):
        first = await db.entities.insert("services", service(name="dup"))
        with pytest.raises(UniqueViolation) as caught:
            await db.entities.insert("services", service(name="dup"))
        assert (caught.value.entity, caught.value.fields) == ("services", {"name": "dup"})
        with pytest.raises(UniqueViolation) as caught:
            await db.entities.insert("services", {**service(name="dup2"), "id": first["id"]})
        assert caught.value.fields == {"id": first["id"]}
        with pytest.raises(UniqueViolation):  # an update into another row's name
            other = await db.entities.insert("services", service(name="dup3"))
            await db.entities.update("services", other["id"], {**other, "name": "dup"})
        await db.entities.insert("consumers", entity("consumers", custom_id="cid"))
        with pytest.raises(UniqueViolation) as caught:
            await db.entities.insert("consumers", entity("consumers", custom_id="cid"))
        assert caught.value.fields == {"custom_id": "cid"}
        # plugins are unique per (name, route, service, consumer, consumer group); nulls count
        # as equal
        await db.entities.insert("plugins", entity("plugins", name="cors"))
        with pytest.raises(UniqueViolation) as caught:
            await db.entities.insert("plugins", entity("plugins", name="cors"))
        assert caught.value.fields == {"name": "cors", "route": None, "service": None,
                                       "consumer": None, "consumer_group": None}
        await db.entities.insert("plugins", entity("plugins", name="cors",
                                                   service={"id": first["id"]}))

    with_db(db_conf, scenario)


def test_fifty_concurrent_inserts_of_one_name(db_conf):
    async def scenario(db: Database):
        rows = [service(name="race") for _ in range(50)]
        results = await asyncio.gather(*(db.entities.insert("services", r) for r in rows),
                                       return_exceptions=True)
        return results

    results = with_db(db_conf, scenario)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, UniqueViolation) for r in results) == 49


def test_foreign_key_violation(db_conf):
    async def scenario(db: Database):
        missing = str(uuid.uuid4())
        with pytest.raises(ForeignKeyViolation) as caught:
            await db.entities.insert("routes", entity("routes", paths=["/x"],
                                                      service={"id": missing}))
        error = caught.value
        assert (error.entity, error.field, error.parent_entity, error.parent_key) == \
            ("routes", "service", "services", {"id": missing})

    with_db(db_conf, scenario)


def test_delete_restricts_and_cascades_as_kong(db_conf):
    async def scenario(db: Database):
        svc = await db.entities.insert("services", service(name="parent"))
        route = await db.entities.insert("routes", entity("routes", paths=["/p"],
                                                          service={"id": svc["id"]}))
        on_route = await db.entities.insert("plugins", entity("plugins", name="cors",
                                                              route={"id": route["id"]}))
        on_service = await db.entities.insert("plugins", entity(
            "plugins", name="request-size-limiting", config={"allowed_payload_size": 1}, service={"id": svc["id"]}))
        with pytest.raises(ReferencedByOthers) as caught:
            await db.entities.delete("services", svc["id"])
        assert (caught.value.entity, caught.value.referencing) == ("services", "routes")
        assert await db.entities.get("plugins", on_service["id"]) is not None  # rolled back

        before = await db.entities.current_version()
        assert await db.entities.delete("routes", route["id"]) is True
        assert await db.entities.get("plugins", on_route["id"]) is None
        assert await changes_since(db, before) == [
            (before + 1, "plugins", on_route["id"], "delete"),
            (before + 1, "routes", route["id"], "delete")]

        consumer = await db.entities.insert("consumers", entity("consumers", username="gone"))
        cred = await db.entities.insert("keyauth_credentials", entity(
            "keyauth_credentials", key="gone-key", consumer={"id": consumer["id"]}))
        assert await db.entities.delete("consumers", consumer["id"]) is True
        assert await db.entities.get("keyauth_credentials", cred["id"]) is None

        upstream = await db.entities.insert("upstreams", entity("upstreams", name="up.internal"))
        target = await db.entities.insert("targets", entity("targets", target="10.0.0.9",
                                                            upstream={"id": upstream["id"]}))
        assert target["target"] == "10.0.0.9:8000"
        with pytest.raises(UniqueViolation) as dup:
            await db.entities.insert("targets", entity("targets", target="10.0.0.9",
                                                       upstream={"id": upstream["id"]}))
        assert dup.value.fields == {"upstream": {"id": upstream["id"]}, "target": "10.0.0.9:8000"}
        assert await db.entities.delete("upstreams", upstream["id"]) is True
        assert await db.entities.get("targets", target["id"]) is None

    with_db(db_conf, scenario)


def test_change_log_versions_and_notify(db_conf):
    async def scenario(db: Database):
        heard: list[str] = []
        listener = await asyncpg.connect(host=db_conf.pg_host, port=db_conf.pg_port,
                                         user=db_conf.pg_user, database=db_conf.pg_database)
        await listener.add_listener("gantry_changes", lambda *args: heard.append(args[3]))
        try:
            start = await db.entities.current_version()
            a = await db.entities.insert("services", service(name="log-a"))
            await db.entities.update("services", a["id"], {**a, "port": 81})
            with pytest.raises(UniqueViolation):  # a failed write appends nothing
                await db.entities.insert("services", service(name="log-a"))
            with pytest.raises(NotFound):
                await db.entities.update("services", str(uuid.uuid4()), a)
            assert await db.entities.delete("services", str(uuid.uuid4())) is False
            await db.entities.delete("services", a["id"])
            assert await db.entities.current_version() == start + 3
            assert await changes_since(db, start) == [
                (start + 1, "services", a["id"], "insert"),
                (start + 2, "services", a["id"], "update"),
                (start + 3, "services", a["id"], "delete")]
            await wait_for_async(lambda: len(heard) >= 3, message="three notifications")
            assert heard == [str(start + 1), str(start + 2), str(start + 3)]
        finally:
            await listener.close()

    with_db(db_conf, scenario)


def test_concurrent_writes_get_distinct_consecutive_versions(db_conf):
    async def scenario(db: Database):
        start = await db.entities.current_version()
        await asyncio.gather(*(db.entities.insert("services", service(name=f"v{i}"))
                               for i in range(20)))
        log = await changes_since(db, start)
        assert [v for v, *_ in log] == list(range(start + 1, start + 21))

    with_db(db_conf, scenario)
