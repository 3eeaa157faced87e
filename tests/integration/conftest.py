from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.echo_upstream import Upstream
from tests.support.postgres import SUPERUSER
from tests.support.processes import ControlPlane, Gateway, gen_cert


@pytest.fixture
def upstream():
    server = Upstream("one")
    yield server
    server.stop()


@pytest.fixture
def upstream2():
    server = Upstream("two")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_upstream():
    """One echo upstream shared by a module's tests (compare /__stats before and after)."""
    server = Upstream("one")
    yield server
    server.stop()


def _factory(directory_of):
    started: list[Gateway] = []

    def start(yml: str | None, *, workers: int = 2, conf: dict[str, str | None] | None = None, wait: bool = True,
              name: str = "gw", env: dict[str, str] | None = None, command: list[str] | None = None) -> Gateway:
        directory = directory_of(f"{name}{len(started)}")
        gateway = Gateway(directory, yml, workers=workers, conf=conf, env=env, command=command)
        started.append(gateway)
        return gateway.start(wait=wait)

    return start, started


@pytest.fixture
def gateway_factory(tmp_path):
    """Start gateways for a test; every one is stopped (and checked for a clean exit) after it."""

    def directory_of(name: str):
        directory = tmp_path / name
        directory.mkdir()
        return directory

    start, started = _factory(directory_of)
    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def module_gateway_factory(tmp_path_factory):
    """Like gateway_factory, but the gateways live for the whole module (start them once)."""
    start, started = _factory(lambda name: tmp_path_factory.mktemp(name))
    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def cluster_certs(tmp_path_factory) -> tuple[Path, Path]:
    return gen_cert(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def control_plane_factory(postgres, cluster_certs, tmp_path_factory):
    """Start `controlplane run` on a new bootstrapped database; all stopped after the module."""
    started: list[ControlPlane] = []

    def start(conf: dict[str, str] | None = None, env: dict[str, str] | None = None) -> ControlPlane:
        pg = {"pg_host": postgres.host, "pg_port": str(postgres.port), "pg_user": SUPERUSER,
              "pg_database": postgres.create_database()}
        cp = ControlPlane(tmp_path_factory.mktemp("cp"), pg, *cluster_certs, conf, env)
        started.append(cp)
        return cp.bootstrap().start()

    yield start
    for cp in started:
        cp.stop()
