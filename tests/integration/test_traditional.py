"""Traditional mode with real processes: two `dataplane run` nodes (role = traditional,
database = postgres) on one PostgreSQL of their own, an echo upstream, writes through either
node's Admin API, a PostgreSQL outage and restarts.

The module shares one cluster of two nodes serving `/stable`; a test that breaks a piece of
it (stops PostgreSQL, restarts a node) brings it back before it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.support.load import Load
from tests.support.postgres import PostgresCluster
from tests.support.traditional import TraditionalNode, pg_settings
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

PROPAGATION_BOUND = 5.0  # seconds; generous for a loaded 2-core machine (the bench measures ms)


@dataclass
class Nodes:
    a: TraditionalNode
    b: TraditionalNode
    pg: PostgresCluster

    @property
    def both(self) -> tuple[TraditionalNode, TraditionalNode]:
        return self.a, self.b

    def routed(self, path: str, status: int = 200) -> bool:
        return all(node.request("GET", path)[0] == status for node in self.both)

    def hashes(self) -> set[str]:
        return {node.served()[1] for node in self.both}


@pytest.fixture(scope="module")
def nodes(own_postgres, module_upstream, tmp_path_factory):
    pg = pg_settings(own_postgres, own_postgres.create_database())
    a = TraditionalNode(tmp_path_factory.mktemp("a"), pg)
    b = TraditionalNode(tmp_path_factory.mktemp("b"), pg)
    a.migrations("bootstrap")  # `controlplane migrations` with a traditional node's conf
    try:
        a.start_admin()
        a.admin_ok("POST", "/services", {"name": "stable", "url": f"http://127.0.0.1:{module_upstream.port}"})
        a.admin_ok("POST", "/services/stable/routes", {"name": "stable", "paths": ["/stable"]})
        a.wait_ready()
        b.start()
        found = Nodes(a, b, own_postgres)
        wait_for(lambda: found.routed("/stable"), message="/stable on both nodes")
        yield found
    finally:
        for node in (a, b):
            assert node.stop() == 0, node.stderr()


def add_route(node: TraditionalNode, name: str) -> None:
    node.admin_ok("POST", "/services/stable/routes", {"name": name, "paths": [f"/{name}"]})


def test_a_write_through_one_node_is_routed_by_the_other(nodes):
    for writer, reader in ((nodes.a, nodes.b), (nodes.b, nodes.a)):
        name = f"from{writer.admin_port}"
        started = time.monotonic()
        add_route(writer, name)
        wait_for(lambda: reader.request("GET", f"/{name}")[0] == 200, timeout=PROPAGATION_BOUND, interval=0.005,
                 message=f"/{name} on the other node")
        assert time.monotonic() - started < PROPAGATION_BOUND
    wait_for(lambda: len(nodes.hashes()) == 1, message="both nodes on one configuration")
    assert nodes.a.status()[1]["database"] == {"reachable": True}
