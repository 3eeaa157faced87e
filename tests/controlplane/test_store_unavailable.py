"""Outages: a stopped server turns into DatabaseUnavailable naming it; a restart heals."""
from __future__ import annotations

import asyncio
import time

import pytest

from controlplane.database import Database, DatabaseUnavailable
from controlplane.database.migrations import CORE
from tests.postgres import PostgresCluster, server_bin_dir


@pytest.fixture(scope="module")
def own_cluster():
    """A cluster of this module's own: stopping the shared one would disturb other tests."""
    if server_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    cluster = PostgresCluster.start_new()
    yield cluster
    cluster.destroy()


async def eventually(action, deadline: float = 15.0):
    """The first successful result of `action()`, retrying DatabaseUnavailable."""
    end = time.monotonic() + deadline
    while True:
        try:
            return await action()
        except DatabaseUnavailable:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.1)


def test_outage_and_recovery(own_cluster):
    conf = own_cluster.conf(own_cluster.create_database(), pg_timeout=2000)
    where = f"{conf.pg_host}:{conf.pg_port}"

    async def scenario():
        db = await Database.connect(conf)
        try:
            await db.migrations.bootstrap()
            assert await db.reachable()
            # several idle connections in the pool when the server goes away
            assert await asyncio.gather(*(db.entities.current_version() for _ in range(5))) == [0] * 5

            own_cluster.stop()
            assert not await db.reachable()
            with pytest.raises(DatabaseUnavailable, match=where):
                await db.entities.current_version()
            with pytest.raises(DatabaseUnavailable, match=where):
                await db.entities.page("services")
            with pytest.raises(DatabaseUnavailable, match=where):
                await db.migrations.state()

            own_cluster.start()
            # idle pooled connections died with the server: none of them is handed out again
            for _ in range(5):
                assert await db.entities.current_version() == 0
            assert await db.reachable()
        finally:
            await db.close()

    asyncio.run(scenario())


def test_connect_while_down_then_server_appears(own_cluster):
    conf = own_cluster.conf(own_cluster.create_database(), pg_timeout=2000)

    async def scenario():
        own_cluster.stop()
        try:
            db = await Database.connect(conf)  # no connection is needed to build the handle
            with pytest.raises(DatabaseUnavailable, match="cannot reach PostgreSQL"):
                await db.migrations.bootstrap()
        finally:
            own_cluster.start()
        try:
            assert await eventually(db.migrations.bootstrap) == [m.name for m in CORE]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_unknown_database_is_unavailable_with_the_reason(own_cluster):
    conf = own_cluster.conf("no_such_database")

    async def scenario():
        db = await Database.connect(conf)
        try:
            with pytest.raises(DatabaseUnavailable, match='"no_such_database" does not exist'):
                await db.entities.current_version()
        finally:
            await db.close()

    asyncio.run(scenario())
