"""Control-plane tests run against a real PostgreSQL: one throwaway cluster for the session,
a fresh database per test module."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

import pytest

from controlplane.store import Database
from dataplane.conf import Conf
from tests.postgres import PostgresCluster, server_bin_dir

T = TypeVar("T")


@pytest.fixture(scope="session")
def postgres():
    if server_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    cluster = PostgresCluster.start_new()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def conf(postgres) -> Conf:
    """A fresh, empty (not bootstrapped) database for this module."""
    return postgres.conf(postgres.create_database())


@pytest.fixture(scope="module")
def db_conf(conf) -> Conf:
    """A fresh database for this module, bootstrapped."""
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf


def with_db(conf: Conf, action: Callable[[Database], Awaitable[T]]) -> T:
    """Run `action(db)` on its own event loop with a Database opened for it."""
    async def main() -> T:
        db = await Database.connect(conf)
        try:
            return await action(db)
        finally:
            await db.close()

    return asyncio.run(main())
