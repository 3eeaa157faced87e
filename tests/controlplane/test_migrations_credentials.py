"""002_credentials on a database that predates it: `migrations up` adds the credential tables
with the constraints the store maps to Kong's errors, keeps what was stored, and the `tags`
view lists both the old entities and the credentials."""
from __future__ import annotations

import uuid

import pytest

from controlplane.cli import with_db
from controlplane.database import Database, UniqueViolation
from controlplane.database.migrations import CORE
from controlplane.database.migrations.credentials import CREDENTIALS_002, TABLES
from controlplane.database.migrator import Migrations
from controlplane.database.tables import TABLES as LAYOUT


def test_up_adds_the_credential_tables_to_an_older_database(postgres):
    conf = postgres.conf(postgres.create_database())
    before = CORE[:CORE.index(CREDENTIALS_002)]

    async def scenario(db: Database):
        old = Migrations(db._pool, "test", None, before)
        assert await old.bootstrap() == [m.name for m in before]
        consumer = str(uuid.uuid4())
        async with db._pool.acquire() as c:
            await c.execute('INSERT INTO "consumers" ("id", "tags", "row", "username") VALUES ($1, $2, $3, $4)',
                            consumer, ["old"], {"id": consumer, "username": "old", "tags": ["old"]}, "old")
            assert await c.fetchval("SELECT to_regclass('basicauth_credentials')") is None
        newer = Migrations(db._pool, "test", None, CORE)
        assert await newer.up() == [m.name for m in CORE[len(before):]]
        assert await newer.finish() == []
        await newer.check()
        async with db._pool.acquire() as c:
            names = {r[0] for r in await c.fetch(
                "SELECT conname FROM pg_constraint WHERE contype IN ('u', 'f')"
                " AND connamespace = 'public'::regnamespace"
                " UNION SELECT indexname FROM pg_indexes WHERE indexname LIKE '%cache_key'")}
        for table in TABLES:
            t = LAYOUT[table]
            assert set(t.uniques) | {f"{table}_{fk.column}_fkey" for fk in t.foreign} <= names, table
        # the store works on the upgraded database: cascades, tags, the unique group per consumer
        await db.entities.insert("basicauth_credentials", {
            "id": str(uuid.uuid4()), "created_at": 1, "consumer": {"id": consumer}, "username": "u",
            "password": "x", "tags": ["cred"]})
        acl = {"id": str(uuid.uuid4()), "created_at": 1, "consumer": {"id": consumer}, "group": "g", "tags": None}
        await db.entities.insert("acls", acl)
        with pytest.raises(UniqueViolation) as info:
            await db.entities.insert("acls", {**acl, "id": str(uuid.uuid4())})
        assert (info.value.entity, info.value.fields) == ("acls", {"consumer": {"id": consumer}, "group": "g"})
        tags = {(r["entity_name"], r["tag"]) for r in (await db.entities.tags())[0]}
        assert tags == {("consumers", "old"), ("basicauth_credentials", "cred")}
        assert await db.entities.delete("consumers", consumer)
        assert (await db.entities.export())["basicauth_credentials"] == []
        assert (await db.entities.export())["acls"] == []

    with_db(conf, scenario)
