"""Traditional mode with real processes: two `dataplane run` nodes (role = traditional,
database = postgres) on one PostgreSQL of their own, an echo upstream, writes through either
node's Admin API, a PostgreSQL outage and restarts.

The module shares one cluster of two nodes serving `/stable`; a test that breaks a piece of
it (stops PostgreSQL, restarts a node) brings it back before it ends.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import pytest

from tests.support.load import Load
from tests.support.postgres import PostgresCluster
from tests.support.traditional import TraditionalNode, pg_settings
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

PROPAGATION_BOUND = 5.0  # seconds; generous for a loaded 2-core machine (the bench measures ms)
_serial = itertools.count(1)


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
        wait_for(lambda reader=reader, name=name: reader.request("GET", f"/{name}")[0] == 200,
                 timeout=PROPAGATION_BOUND, interval=0.005, message=f"/{name} on the other node")
        assert time.monotonic() - started < PROPAGATION_BOUND
    wait_for(lambda: len(nodes.hashes()) == 1, message="both nodes on one configuration")
    assert nodes.a.status()[1]["database"] == {"reachable": True}
    for node in nodes.both:  # Kong's pids (02-kong_routes_spec.lua:151): the node's own workers
        assert node.admin_ok("GET", "/")["pids"]["workers"] == node.worker_pids()
    for node in nodes.both:  # each change went in as a delta, not as the whole configuration
        assert "from the database applied (hash" in node.error_log()
        assert "1 upserted, 0 deleted)" in node.error_log()


def test_writes_through_both_nodes_under_load_fail_no_request(nodes):
    with Load(nodes.a.port, "/stable", clients=2) as load_a, Load(nodes.b.port, "/stable", clients=2) as load_b:
        wait_for(lambda: load_a.ok > 20 and load_b.ok > 20, message="load running")
        for i in range(40):
            writer = nodes.both[i % 2]
            if i % 4 == 1:  # the service the load goes through changes too: router and balancer rebuilt
                writer.admin_ok("PATCH", "/services/stable", {"retries": i})
            else:
                add_route(writer, f"load{i}")
        wait_for(lambda: nodes.routed("/load38"), timeout=PROPAGATION_BOUND, message="the last change")
        counts = load_a.ok, load_b.ok
        wait_for(lambda: load_a.ok > counts[0] and load_b.ok > counts[1], message="load after the writes")
    assert load_a.failures == [] and load_b.failures == []
    wait_for(lambda: len(nodes.hashes()) == 1, message="both nodes on one configuration")
    assert nodes.a.served() == nodes.b.served()
    assert all(nodes.a.request("GET", f"/load{i}")[0] == 200 for i in range(40) if i % 4 != 1)


async def _change_without_notifying(pg: PostgresCluster, database: str, route_id: str, path: str) -> None:
    """A route's paths changed and logged as a write does it, without the NOTIFY (as if it were lost)."""
    import asyncpg

    connection = await asyncpg.connect(host=pg.host, port=pg.port, user="postgres", database=database)
    try:
        async with connection.transaction():
            await connection.execute(
                """UPDATE "routes" SET "row" = jsonb_set("row", '{paths}', jsonb_build_array($2::text))
                   WHERE "id" = $1::uuid""",
                route_id,
                path,
            )
            version = await connection.fetchval(
                'UPDATE "change_version" SET "version" = "version" + 1 RETURNING "version"'
            )
            await connection.execute(
                """INSERT INTO "change_log" ("version", "entity", "entity_id", "op")
                   VALUES ($1, 'routes', $2::uuid, 'update')""",
                version,
                route_id,
            )
    finally:
        await connection.close()


def test_a_change_whose_notification_is_lost_arrives_with_the_poll(nodes):
    import asyncio

    route = nodes.a.admin_ok("POST", "/services/stable/routes", {"name": "unheard", "paths": ["/unheard"]})
    wait_for(lambda: nodes.routed("/unheard"), timeout=PROPAGATION_BOUND, message="/unheard on both nodes")
    asyncio.run(_change_without_notifying(nodes.pg, nodes.a.raw_conf("pg_database"), route["id"], "/polled"))
    # db_update_frequency = 1 in these nodes' conf
    wait_for(lambda: nodes.routed("/polled"), timeout=PROPAGATION_BOUND, message="/polled on both nodes")
    assert nodes.routed("/unheard", 404)
    assert len(nodes.hashes()) == 1


BROKEN_WRITES = [
    ("POST", "/services/stable/routes", {"name": "bad-regex", "paths": ["~/(unclosed"]}),
    ("POST", "/services/stable/routes", {"name": "no-matcher"}),
    ("POST", "/routes", {"name": "orphan", "paths": ["/orphan"],
                         "service": {"id": "4c6bd3b8-4b8c-4a0a-9a0e-6b0a1f0e9d11"}}),
    ("POST", "/plugins", {"name": "not-a-plugin"}),
    ("POST", "/plugins", {"name": "rate-limiting", "config": {"minute": "many"}}),
    ("PATCH", "/services/stable", {"port": 70000}),
    ("POST", "/services", {"name": "stable", "url": "http://127.0.0.1:1"}),  # the name is taken
]


@pytest.mark.parametrize("method,path,body", BROKEN_WRITES, ids=[w[2].get("name", "patch") for w in BROKEN_WRITES])
def test_a_broken_write_never_reaches_the_nodes(nodes, method, path, body):
    wait_for(lambda: len({node.served() for node in nodes.both}) == 1, message="both nodes on one configuration")
    version = nodes.a.served()[0]
    code, answer = nodes.a.admin(method, path, body)
    assert 400 <= code < 500, answer
    add_route(nodes.b, f"after-broken-{next(_serial)}")  # a good write follows, through the other node
    wait_for(lambda: all(node.served()[0] > version for node in nodes.both), timeout=PROPAGATION_BOUND,
             message="the good write on both nodes")
    # The broken write stored nothing: the good one is the only version between.
    assert [node.served()[0] for node in nodes.both] == [version + 1, version + 1]
    assert nodes.routed("/stable")
    assert nodes.a.request("GET", "/orphan")[0] == 404
    assert len(nodes.hashes()) == 1


def test_postgres_down_nodes_keep_proxying_refuse_writes_and_recover(nodes):
    served = nodes.a.served()
    with Load(nodes.a.port, "/stable", clients=2) as load_a, Load(nodes.b.port, "/stable", clients=2) as load_b:
        wait_for(lambda: load_a.ok > 20 and load_b.ok > 20, message="load running")
        nodes.pg.stop()
        try:
            for node in nodes.both:
                wait_for(lambda node=node: node.status()[1]["database"]["reachable"] is False,
                         message="/status: the database unreachable")
                body = node.status()[1]
                assert f"PostgreSQL at 127.0.0.1:{nodes.pg.port}" in body["database"]["error"], body
                assert node.status("/status/ready") == (200, {"message": "ready"})  # still serving
                code, answer = node.admin("POST", "/services/stable/routes", {"name": "during", "paths": ["/during"]})
                assert code == 503, answer
                assert f"PostgreSQL at 127.0.0.1:{nodes.pg.port}" in answer["message"], answer
                code, answer = node.admin("GET", "/services")
                assert code == 503 and "PostgreSQL" in answer["message"], answer
                code, answer = node.admin("GET", "/status")
                assert code == 200 and answer["database"] == {"reachable": False}, answer
                code, answer = node.admin("GET", "/")  # what decK and KIC read first
                assert code == 200 and answer["configuration"]["database"] == "postgres", answer
                assert answer["plugins"]["enabled_in_cluster"] is None  # unknown without the database
                for path in ("/schemas/routes", "/endpoints"):  # what needs no database still answers
                    assert node.admin("GET", path)[0] == 200, path
            counts = load_a.ok, load_b.ok
            wait_for(lambda: load_a.ok > counts[0] + 50 and load_b.ok > counts[1] + 50,
                     message="load during the outage")
        finally:
            nodes.pg.start()
        for node in nodes.both:
            wait_for(lambda node=node: node.status()[1]["database"] == {"reachable": True}, timeout=20,
                     message="/status: the database reachable again")
        add_route(nodes.b, "recovered")
        wait_for(lambda: nodes.routed("/recovered"), timeout=PROPAGATION_BOUND, message="a write after recovery")
    assert load_a.failures == [] and load_b.failures == []
    assert nodes.a.served()[0] == served[0] + 1  # the refused writes wrote nothing


def test_a_node_restarted_while_postgres_is_down_serves_its_cache(nodes):
    add_route(nodes.a, "cached")
    wait_for(lambda: nodes.routed("/cached"), timeout=PROPAGATION_BOUND, message="/cached on both nodes")
    served = nodes.b.served()
    nodes.pg.stop()
    try:
        assert nodes.b.stop() == 0, nodes.b.stderr()
        nodes.b.start()  # waits until ready: the LMDB cache, without the database
        assert nodes.b.served() == served
        assert nodes.b.request("GET", "/cached")[0] == 200
        assert nodes.b.status()[1]["database"]["reachable"] is False
        assert "serving the configuration cached in LMDB" in nodes.b.error_log()
    finally:
        nodes.pg.start()
    # Back: the restarted node follows the database again.
    wait_for(lambda: nodes.b.status()[1]["database"] == {"reachable": True}, timeout=20,
             message="the restarted node reading the database")
    add_route(nodes.a, "after-restart")
    wait_for(lambda: nodes.routed("/after-restart"), timeout=PROPAGATION_BOUND, message="a write after the restart")
    assert len(nodes.hashes()) == 1


async def _forget_last_migration(pg: dict[str, str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(host=pg["pg_host"], port=int(pg["pg_port"]), user=pg["pg_user"],
                                       database=pg["pg_database"])
    try:
        name = await connection.fetchval('SELECT max("name") FROM "schema_meta"')
        await connection.execute('DELETE FROM "schema_meta" WHERE "name" = $1', name)
    finally:
        await connection.close()


def _refused(node: TraditionalNode) -> str:
    node.start(wait=False)
    assert node.proc is not None
    assert node.proc.wait(timeout=30) == 1
    stderr = node.stderr()
    assert "Traceback" not in stderr
    assert not node.status_answers()
    return stderr


def test_a_node_refuses_a_database_not_migrated_and_starts_once_it_is(own_postgres, tmp_path):
    import asyncio

    pg = pg_settings(own_postgres, own_postgres.create_database())
    (tmp_path / "node").mkdir()
    node = TraditionalNode(tmp_path / "node", pg)
    assert "database needs bootstrapping; run 'controlplane migrations bootstrap'" in _refused(node)

    node.migrations("bootstrap")
    asyncio.run(_forget_last_migration(pg))  # as if this version brought a new migration
    stderr = _refused(node)
    assert "cannot start: database " + pg["pg_database"] in stderr
    assert "new migrations available" in stderr and "run 'controlplane migrations up'" in stderr

    node.migrations("up")  # `controlplane migrations` serves the traditional role
    node.start_admin()
    try:
        node.admin_ok("POST", "/plugins", {"name": "cors"})
    finally:
        assert node.stop() == 0, node.stderr()
    # A node that does not run a plugin the database uses refuses to start, as Kong does.
    node.set_conf(plugins="key-auth")
    assert "cors plugin is in use but not enabled" in _refused(node)


def test_dataplane_check_accepts_a_traditional_conf(tmp_path, own_postgres):
    import subprocess
    import sys

    from tests.support.paths import ROOT

    node = TraditionalNode(tmp_path, pg_settings(own_postgres, "unused"))
    done = subprocess.run([sys.executable, "-m", "dataplane.cli", "check", str(node.conf_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "is valid" in done.stdout, done.stderr


def test_a_node_started_without_database_or_cache_is_ready_once_the_database_answers(own_postgres, tmp_path,
                                                                                     module_upstream):
    pg = pg_settings(own_postgres, own_postgres.create_database())
    for name in ("writer", "late"):
        (tmp_path / name).mkdir()
    writer = TraditionalNode(tmp_path / "writer", pg)
    writer.migrations("bootstrap")
    writer.start_admin()
    try:
        writer.admin_ok("POST", "/services", {"name": "s", "url": f"http://127.0.0.1:{module_upstream.port}"})
        writer.admin_ok("POST", "/services/s/routes", {"name": "r", "paths": ["/late"]})
        late = TraditionalNode(tmp_path / "late", pg)
        own_postgres.stop()
        try:
            late.start(wait=False)
            wait_for(late.status_answers, message="the late node's status API")
            assert late.status("/status/ready")[0] == 503  # nothing to serve yet
            assert late.status()[1]["database"]["reachable"] is False
            assert "nothing cached in LMDB: not ready until the database answers" in late.error_log()
        finally:
            own_postgres.start()
        late.wait_ready()
        assert late.request("GET", "/late")[0] == 200
        assert late.stop() == 0, late.stderr()
    finally:
        assert writer.stop() == 0, writer.stderr()


def test_a_cache_from_before_is_replaced_whole_not_patched(nodes, tmp_path, module_upstream):
    from tests.support.configs import config
    from tests.support.processes import Gateway

    # The prefix held a DB-less node's cache: its version numbers mean nothing to the database.
    dbless = Gateway(tmp_path, config(module_upstream.port, path="/from-file"), workers=1).start()
    assert dbless.request("GET", "/from-file")[0] == 200
    assert dbless.stop() == 0
    node = TraditionalNode(tmp_path, pg_settings(nodes.pg, nodes.a.raw_conf("pg_database") or ""), workers=1)
    node.start()
    try:
        assert node.request("GET", "/from-file")[0] == 404
        assert node.request("GET", "/stable")[0] == 200
        wait_for(lambda: node.served() == nodes.a.served(), message="the database's configuration, whole")
    finally:
        assert node.stop() == 0, node.stderr()
