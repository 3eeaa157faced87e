"""Control-plane tests run against a real PostgreSQL (the session's `postgres` cluster), a fresh
database per test module."""
from __future__ import annotations

import pytest

from controlplane.cli import with_db
from dataplane.conf import Conf
from tests.support.admin_api import AdminApi


@pytest.fixture(scope="module")
def conf(postgres) -> Conf:
    """A fresh, empty (not bootstrapped) database for this module."""
    return postgres.conf(postgres.create_database())


@pytest.fixture(scope="module")
def db_conf(conf) -> Conf:
    """A fresh database for this module, bootstrapped."""
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf


@pytest.fixture(scope="module")
def api(db_conf):
    """The Admin API on this module's bootstrapped database (a module needing another conf
    overrides `conf`)."""
    with AdminApi(db_conf) as admin:
        yield admin
