"""Fixtures every suite may use: PostgreSQL clusters (started by the tests, as the postgres
user when they run as root; skipped where PostgreSQL's server binaries are not installed).

Two marks follow from the fixtures a test uses, so that they cannot be forgotten: `postgres` on
every test using a PostgreSQL cluster (`-m "not postgres"` runs where none is installed) and
`slow` on every test starting `dataplane run` or `controlplane run` processes (a second or more
each on two cores). Other slow tests carry the mark themselves."""

from __future__ import annotations

import pytest

from dataplane.plugins import load_registry
from tests.support.postgres import throwaway_cluster

POSTGRES_FIXTURES = {"postgres", "own_postgres"}
PROCESS_FIXTURES = {"gateway_factory", "module_gateway_factory", "control_plane_factory"}


def pytest_configure(config: pytest.Config) -> None:
    # Every Gantry entry point loads its plugins before it validates anything, which registers
    # their config schemas process-wide; the test process does the same once, so that what a
    # test validates does not depend on which test ran before it.
    load_registry(("bundled",))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if fixtures & PROCESS_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres():
    """One cluster for the run; each module or control plane takes a database of its own. A
    test that stops it starts it again before it ends."""
    yield from throwaway_cluster()


@pytest.fixture(scope="module")
def own_postgres():
    """A cluster for one module alone: the module stops and restarts it (outages)."""
    yield from throwaway_cluster()
