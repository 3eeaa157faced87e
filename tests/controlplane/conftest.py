"""Control-plane tests run against a real PostgreSQL: one throwaway cluster for the session,
a fresh database per test module."""
from __future__ import annotations

import pytest

from controlplane.cli import with_db  # noqa: F401  (tests import it from here)
from dataplane.conf import Conf
from tests.postgres import PostgresCluster, server_bin_dir

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


