"""Fixtures every suite may use: PostgreSQL clusters (started by the tests, as the postgres
user when they run as root; skipped where PostgreSQL's server binaries are not installed)."""

from __future__ import annotations

import pytest

from tests.support.postgres import throwaway_cluster

@pytest.fixture(scope="session")
def postgres():
    """One cluster for the run; each module or control plane takes a database of its own. A
    test that stops it starts it again before it ends."""
    yield from throwaway_cluster()


@pytest.fixture(scope="module")
def own_postgres():
    """A cluster for one module alone: the module stops and restarts it (outages)."""
    yield from throwaway_cluster()
