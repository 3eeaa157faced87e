from __future__ import annotations

import pytest

from tests.harness import Gateway, Upstream


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


@pytest.fixture
def gateway_factory(tmp_path):
    """Start gateways for a test; every one is stopped (and checked for a clean exit) after it."""
    started: list[Gateway] = []

    def start(yml: str, *, workers: int = 2, conf: dict[str, str] | None = None, wait: bool = True,
              name: str = "gw") -> Gateway:
        directory = tmp_path / f"{name}{len(started)}"
        directory.mkdir()
        gateway = Gateway(directory, yml, workers=workers, conf=conf)
        started.append(gateway)
        return gateway.start(wait=wait)

    yield start
    for gateway in started:
        gateway.stop()
