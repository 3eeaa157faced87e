"""Control-plane tests run against a real PostgreSQL (the session's `postgres` cluster), a fresh
database per test module."""
from __future__ import annotations

import pytest

from controlplane.cli import with_db  # noqa: F401  (tests import it from here)
from dataplane.conf import Conf


@pytest.fixture(scope="module")
def conf(postgres) -> Conf:
    """A fresh, empty (not bootstrapped) database for this module."""
    return postgres.conf(postgres.create_database())


@pytest.fixture(scope="module")
def db_conf(conf) -> Conf:
    """A fresh database for this module, bootstrapped."""
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf
