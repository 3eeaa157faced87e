"""Migrations against a real PostgreSQL: bootstrap, re-runs, concurrency, up/finish, reset, CLI."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from controlplane.cli import with_db
from controlplane.database import Database, MigrationsPending, NotBootstrapped
from controlplane.database.migrations import CORE, Migration
from controlplane.database.migrator import Migrations
from controlplane.database.tables import TABLES

ALL = [m.name for m in CORE]


@pytest.fixture
def fresh(postgres):
    return postgres.conf(postgres.create_database())


def test_bootstrap_from_empty_then_rerun_is_a_no_op(fresh):
    async def scenario(db: Database):
        assert await db.migrations.state() == (False, [], ALL)
        with pytest.raises(NotBootstrapped):
            await db.migrations.check()
        assert await db.migrations.bootstrap() == ALL
        assert await db.migrations.state() == (True, ALL, [])
        await db.migrations.check()
        assert await db.migrations.bootstrap() == []
        assert await db.migrations.up() == []
        assert await db.migrations.finish() == []
        assert await db.migrations.state() == (True, ALL, [])

    with_db(fresh, scenario)


def test_constraints_in_the_database_match_the_table_layout(fresh):
    async def scenario(db: Database):
        await db.migrations.bootstrap()
        async with db._pool.acquire() as c:
            names = {r[0] for r in await c.fetch(
                "SELECT conname FROM pg_constraint WHERE contype IN ('u', 'f')"
                " AND connamespace = 'public'::regnamespace"
                " UNION SELECT indexname FROM pg_indexes WHERE indexname LIKE '%cache_key'")}
        expected = {n for t in TABLES.values() for n in t.uniques}
        expected |= {f"{t.entity}_{fk.column}_fkey" for t in TABLES.values() for fk in t.foreign}
        assert names == expected

    with_db(fresh, scenario)


def test_concurrent_bootstraps_serialize(fresh):
    async def scenario():
        dbs = [await Database.connect(fresh) for _ in range(4)]
        try:
            results = await asyncio.gather(*(db.migrations.bootstrap() for db in dbs))
            state = await dbs[0].migrations.state()
        finally:
            for db in dbs:
                await db.close()
        return results, state

    results, state = asyncio.run(scenario())
    assert sorted(results, key=len) == [[], [], [], ALL]
    assert state == (True, ALL, [])


def test_up_and_finish_with_a_two_step_migration(fresh):
    extra = Migration("001_extra", up='CREATE TABLE "extra" ("id" INT)',
                      teardown='ALTER TABLE "extra" ADD COLUMN "done" BOOLEAN')

    async def scenario(db: Database):
        await db.migrations.bootstrap()
        newer = Migrations(db._pool, "test", None, (*CORE, extra))
        assert (await newer.status()).new == ["001_extra"]
        with pytest.raises(MigrationsPending, match="001_extra"):
            await newer.check()
        assert await newer.up() == ["001_extra"]
        status = await newer.status()
        assert (status.executed, status.pending, status.new) == (ALL, ["001_extra"], [])
        await newer.check()  # waiting for finish is fine for running nodes, as in Kong
        with pytest.raises(MigrationsPending, match="finish"):
            await newer.up()
        assert await newer.finish() == ["001_extra"]
        assert await newer.state() == (True, [*ALL, "001_extra"], [])
        async with db._pool.acquire() as c:
            assert await c.fetchval("SELECT count(*) FROM information_schema.columns "
                                    "WHERE table_name = 'extra' AND column_name = 'done'") == 1

    with_db(fresh, scenario)


def test_up_and_finish_need_bootstrap(fresh):
    async def scenario(db: Database):
        with pytest.raises(NotBootstrapped):
            await db.migrations.up()
        with pytest.raises(NotBootstrapped):
            await db.migrations.finish()
        with pytest.raises(NotBootstrapped):
            await db.entities.current_version()

    with_db(fresh, scenario)


def test_reset_drops_everything(fresh):
    async def scenario(db: Database):
        assert await db.migrations.reset() is False
        await db.migrations.bootstrap()
        assert await db.migrations.reset() is True
        assert await db.migrations.state() == (False, [], ALL)
        assert await db.migrations.bootstrap() == ALL
        assert await db.entities.current_version() == 0

    with_db(fresh, scenario)


def test_pg_schema_holds_the_tables(postgres):
    conf = postgres.conf(postgres.create_database(), pg_schema="gantry")

    async def scenario(db: Database):
        await db.migrations.bootstrap()
        async with db._pool.acquire() as c:
            assert await c.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'gantry' "
                                    "AND tablename = 'services'") == 1
        assert await db.migrations.reset() is True
        assert await db.migrations.state() == (False, [], ALL)

    with_db(conf, scenario)


def _cli(conf_path: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controlplane.cli", *args, "-c", conf_path],
                          capture_output=True, text=True, input=stdin, timeout=60)


def test_cli_migrations(fresh, tmp_path):
    path = tmp_path / "kong.conf"
    path.write_text(f"pg_host = {fresh.pg_host}\npg_port = {fresh.pg_port}\n"
                    f"pg_user = {fresh.pg_user}\npg_database = {fresh.pg_database}\n")
    listed = _cli(str(path), "migrations", "list")
    assert listed.returncode == 3 and "needs bootstrapping" in listed.stdout
    done = _cli(str(path), "migrations", "bootstrap")
    assert done.returncode == 0 and f"core migrated up to: {ALL[-1]}" in done.stdout
    again = _cli(str(path), "migrations", "bootstrap")
    assert again.returncode == 0 and "already bootstrapped" in again.stdout
    listed = _cli(str(path), "migrations", "list")
    assert listed.returncode == 0
    assert listed.stdout == f"executed migrations:\ncore: {', '.join(ALL)}\ndatabase is up-to-date\n"
    assert "already up-to-date" in _cli(str(path), "migrations", "up").stdout
    assert "no pending migrations" in _cli(str(path), "migrations", "finish").stdout
    refused = _cli(str(path), "migrations", "reset", stdin="")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    reset = _cli(str(path), "migrations", "reset", "--yes")
    assert reset.returncode == 0 and "successfully reset" in reset.stdout
    assert _cli(str(path), "migrations", "reset", "--yes").returncode == 1


def test_cli_names_the_unreachable_server(tmp_path, postgres):
    path = tmp_path / "kong.conf"
    port = postgres.port + 1 if postgres.port < 65535 else postgres.port - 1
    path.write_text(f"pg_host = 127.0.0.1\npg_port = {port}\npg_timeout = 1000\n")
    done = _cli(str(path), "migrations", "list")
    assert done.returncode == 1
    assert f"Error: cannot reach PostgreSQL at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
