"""Configuration pushes over a real gRPC stream (TLS on loopback) from a control plane on a
real PostgreSQL: full config on connect, deltas after Admin API writes, coalescing under a
burst, full configs for unknown, too old or ahead versions, two control planes on one
database, and no push while PostgreSQL is down."""
from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import pytest

from controlplane.cli import with_db
from controlplane.cluster import encoding
from dataplane.declarative import EMPTY_HASH
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane
from tests.support.waiting import wait_for_async


@pytest.fixture
def cp_conf(postgres, tmp_path_factory):
    """A control plane conf on a fresh, bootstrapped database, with a shared certificate."""
    cert, key = shared_pair(tmp_path_factory.mktemp("certs"))
    conf = postgres.conf(postgres.create_database(), role="control_plane", cluster_cert=cert,
                         cluster_cert_key=key)
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf


def data_plane(cp: ControlPlane, **kw) -> TestDataPlane:
    cert = cp.conf.cluster_cert
    return TestDataPlane(cp.port, cert, cp.conf.cluster_cert_key, cert, **kw)


def payload(message) -> dict:
    body = message.delta if message.WhichOneof("kind") == "delta" else message.full
    return encoding.decode(body.payload, body.encoding)


def current_version(cp: ControlPlane) -> int:
    return cp.run(cp.db.changes.current_version())


def test_full_config_on_connect_then_deltas(cp_conf):
    with ControlPlane(cp_conf) as cp:
        svc = cp.request("POST", "/services", json={"name": "s1", "url": "http://a.test"}).json()
        route = cp.request("POST", "/services/s1/routes", json={"name": "r1", "paths": ["/a"]}).json()
        cp.caught_up()

        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            first = await dp.receive_config()
            assert first.WhichOneof("kind") == "full"
            assert first.full.version == current_version(cp) == 2
            assert first.full.encoding == "gzip+json"
            assert set(first.full.hashes) == {"routes", "services", "plugins", "upstreams",
                                              "targets", "rest"}
            assert [r["id"] for r in payload(first)["routes"]] == [route["id"]]

            # an insert: the new row only
            r = await cp.arequest("POST", "/services/s1/routes", json={"name": "r2", "paths": ["/b"]})
            message = await dp.receive_config()
            assert message.WhichOneof("kind") == "delta"
            assert (message.delta.from_version, message.delta.to_version) == (2, 3)
            assert payload(message) == {"upserts": {"routes": [r.json()]}, "deletes": {}}

            # an update, then a delete cascading to a plugin
            await cp.arequest("PATCH", "/routes/r1", json={"paths": ["/z"]})
            message = await dp.receive_config()
            assert payload(message)["upserts"]["routes"][0]["paths"] == ["/z"]
            plugin = (await cp.arequest("POST", "/routes/r2/plugins",
                                        json={"name": "cors"})).json()
            await dp.receive_config()
            await cp.arequest("DELETE", "/routes/r2")
            message = await dp.receive_config()
            assert payload(message) == {"upserts": {}, "deletes": {
                "plugins": [plugin["id"]], "routes": [r.json()["id"]]}}
            assert len(message.delta.payload) < 1000
            assert set(dp.config["services"]) == {svc["id"]}
            await dp.close()

        asyncio.run(scenario())


def test_up_to_date_data_plane_gets_no_config(cp_conf):
    with ControlPlane(cp_conf) as cp:
        cp.request("POST", "/services", json={"name": "s1", "url": "http://a.test"})
        cp.caught_up()

        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            await dp.receive_config()
            await dp.close()
            again = data_plane(cp, node_id=dp.node_id)
            again.config_version, again.config_hash = dp.config_version, dp.config_hash
            await again.connect()
            message = await again.receive()
            assert message.WhichOneof("kind") == "pong"
            assert message.pong.config_version == dp.config_version
            await again.ping()
            assert (await again.receive()).WhichOneof("kind") == "pong"
            await again.close()

        asyncio.run(scenario())


def test_coalesces_a_burst_of_50_writes(cp_conf):
    with ControlPlane(cp_conf) as cp:
        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            await dp.receive_config()

            def burst():
                for i in range(50):
                    assert cp.request("POST", "/services", json={
                        "name": f"b{i}", "url": "http://a.test"}).status_code == 201

            writes = asyncio.ensure_future(asyncio.to_thread(burst))
            pushes = 0
            while not writes.done() or dp.config_version < current_version(cp):
                try:
                    await dp.receive_config(timeout=0.5)
                    pushes += 1
                except asyncio.TimeoutError:
                    pass
            await writes
            assert dp.config_version == 50 and len(dp.config["services"]) == 50
            assert pushes < 50, pushes  # several writes per push
            await dp.close()
            return pushes

        print("pushes for 50 writes:", asyncio.run(scenario()))


async def kind_for(cp: ControlPlane, version: int, digest: str) -> str:
    """What a data plane holding (`version`, `digest`) is sent first."""
    dp = data_plane(cp)
    dp.config_version, dp.config_hash = version, digest
    await dp.connect()
    message = await dp.receive()
    await dp.close()
    return message.WhichOneof("kind")


def test_full_config_for_unknown_too_old_or_ahead_versions(cp_conf):
    with ControlPlane(cp_conf) as cp:
        for i in range(3):
            cp.request("POST", "/services", json={"name": f"s{i}", "url": "http://a.test"})
        cp.caught_up()

        async def scenario():
            probe = data_plane(cp)
            await probe.connect()
            await probe.receive_config()
            await probe.close()
            cp.request("POST", "/services", json={"name": "s3", "url": "http://a.test"})
            await asyncio.to_thread(cp.caught_up)
            # version 3 with the hash version 3 had: a delta
            assert await kind_for(cp, 3, probe.config_hash) == "delta"
            # version 3 with another hash: another database's config
            assert await kind_for(cp, 3, "f" * 32) == "full"
            assert await kind_for(cp, 99, "f" * 32) == "full"  # ahead of the database
            assert await kind_for(cp, 0, EMPTY_HASH) == "full"  # nothing yet
            connection = await asyncpg.connect(host=cp_conf.pg_host, port=cp_conf.pg_port,
                                               user=cp_conf.pg_user, database=cp_conf.pg_database)
            await connection.execute('DELETE FROM "change_log" WHERE "version" <= 2')
            await connection.close()

        asyncio.run(scenario())
    # A control plane started now remembers nothing: it asks the log, which lost 1 and 2.
    with ControlPlane(cp_conf) as fresh:
        async def after_pruning():
            assert await kind_for(fresh, 1, "f" * 32) == "full"  # too old for the log
            assert await kind_for(fresh, 2, "f" * 32) == "delta"

        asyncio.run(after_pruning())


def test_write_through_one_control_plane_reaches_data_planes_of_another(cp_conf):
    # Polling every 60 s: only LISTEN/NOTIFY can bring the change in time.
    with ControlPlane(cp_conf, poll_interval=60) as a, ControlPlane(cp_conf, poll_interval=60) as b:
        async def scenario():
            await wait_for_async(lambda: a.cluster.watcher.listening.is_set() and b.cluster.watcher.listening.is_set(),
                                 interval=0.05, message="both control planes listening")
            dp = data_plane(b)
            await dp.connect()
            await dp.receive_config()
            latencies = []
            for i in range(5):
                started = time.monotonic()
                r = await a.arequest("POST", "/services", json={"name": f"x{i}", "url": "http://a.test"})
                message = await dp.receive_config(timeout=5)
                latencies.append(time.monotonic() - started)
                assert payload(message)["upserts"]["services"] == [r.json()]
            await dp.close()
            return latencies

        latencies = asyncio.run(scenario())
        assert max(latencies) < 1.0, latencies


def test_no_push_while_postgres_is_down_then_recovery(own_postgres, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    cert, key = shared_pair(tmp_path)
    conf = own_postgres.conf(own_postgres.create_database(), role="control_plane",
                             cluster_cert=cert, cluster_cert_key=key, pg_timeout=1000)
    with_db(conf, lambda db: db.migrations.bootstrap())
    with ControlPlane(conf) as cp:
        cp.request("POST", "/services", json={"name": "s1", "url": "http://a.test"})
        cp.caught_up()

        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            await dp.receive_config()
            await asyncio.to_thread(own_postgres.stop)
            try:
                await wait_for_async(lambda: any("unable to read the configuration" in r.getMessage()
                                                 for r in caplog.records), message="a failed read")
                with pytest.raises(asyncio.TimeoutError):  # the point: no push in this half second
                    await dp.receive_config(timeout=0.5)
                # a data plane arriving now is served the configuration held in memory
                late = data_plane(cp)
                await late.connect()
                message = await late.receive_config()
                assert message.full.version == dp.config_version and len(late.config["services"]) == 1
                await late.close()
            finally:
                await asyncio.to_thread(own_postgres.start)
            await wait_for_async(cp.cluster.watcher.listening.is_set, interval=0.05, message="listening again")
            r = await cp.arequest("POST", "/services", json={"name": "s2", "url": "http://a.test"})
            assert r.status_code == 201
            message = await dp.receive_config()
            assert payload(message)["upserts"]["services"] == [r.json()]
            await dp.close()

        asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert any("unable to read the configuration from the database, not pushing to data planes"
               in m for m in messages), messages
    assert any("configuration readable again" in m for m in messages)


def test_no_push_while_migrations_are_pending(cp_conf, caplog):
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    with ControlPlane(cp_conf) as cp:
        cp.request("POST", "/services", json={"name": "s1", "url": "http://a.test"})
        cp.caught_up()

        async def sql(statement: str) -> None:
            connection = await asyncpg.connect(host=cp_conf.pg_host, port=cp_conf.pg_port,
                                               user=cp_conf.pg_user, database=cp_conf.pg_database)
            await connection.execute(statement)
            await connection.close()

        async def scenario():
            dp = data_plane(cp)
            await dp.connect()
            await dp.receive_config()
            # The database now looks replaced by one this code must migrate first.
            await sql('DELETE FROM "schema_meta" WHERE "name" = \'001_clustering_data_planes\'')
            await sql('UPDATE "change_version" SET "version" = 0')
            with pytest.raises(asyncio.TimeoutError):
                await dp.receive_config(timeout=2.5)
            assert dp.config_version == 1 and len(dp.config["services"]) == 1
            await sql("INSERT INTO \"schema_meta\" (\"name\", \"state\") "
                      "VALUES ('001_clustering_data_planes', 'executed')")
            message = await dp.receive_config(timeout=5)  # migrated: read whole and pushed
            assert message.WhichOneof("kind") == "full" and message.full.version == 0
            await dp.close()

        asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert any("not pushing to data planes" in m and "new migrations available" in m
               for m in messages), messages
