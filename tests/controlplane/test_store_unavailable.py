"""Outages: a stopped server turns into DatabaseUnavailable naming it; a restart heals."""
from __future__ import annotations

import asyncio

import pytest

from controlplane.database import Database, DatabaseUnavailable
from controlplane.database.migrations import CORE
from tests.support.waiting import wait_for_async


def test_outage_and_recovery(own_postgres):
    conf = own_postgres.conf(own_postgres.create_database(), pg_timeout=2000)
    where = f"{conf.pg_host}:{conf.pg_port}"

    async def scenario():
        db = await Database.connect(conf)
        try:
            await db.migrations.bootstrap()
            assert await db.reachable()
            # several idle connections in the pool when the server goes away
            assert await asyncio.gather(*(db.entities.current_version() for _ in range(5))) == [0] * 5

            own_postgres.stop()
            assert not await db.reachable()
            with pytest.raises(DatabaseUnavailable, match=where):
                await db.entities.current_version()
            with pytest.raises(DatabaseUnavailable, match=where):
                await db.entities.page("services")
            with pytest.raises(DatabaseUnavailable, match=where):
                await db.migrations.state()

            own_postgres.start()
            # idle pooled connections died with the server: none of them is handed out again
            for _ in range(5):
                assert await db.entities.current_version() == 0
            assert await db.reachable()
        finally:
            await db.close()

    asyncio.run(scenario())


def test_connect_while_down_then_server_appears(own_postgres):
    conf = own_postgres.conf(own_postgres.create_database(), pg_timeout=2000)

    async def scenario():
        own_postgres.stop()
        try:
            db = await Database.connect(conf)  # no connection is needed to build the handle
            with pytest.raises(DatabaseUnavailable, match="cannot reach PostgreSQL"):
                await db.migrations.bootstrap()
        finally:
            own_postgres.start()
        try:
            applied = await wait_for_async(db.migrations.bootstrap, timeout=15, interval=0.1,
                                           ignoring=(DatabaseUnavailable,), message="a bootstrap once the server is up")
            assert applied == [m.name for m in CORE]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_unknown_database_is_unavailable_with_the_reason(own_postgres):
    conf = own_postgres.conf("no_such_database")

    async def scenario():
        db = await Database.connect(conf)
        try:
            with pytest.raises(DatabaseUnavailable, match='"no_such_database" does not exist'):
                await db.entities.current_version()
        finally:
            await db.close()

    asyncio.run(scenario())
