"""`controlplane run` as a real process: refuses to start on an unusable database, serves
the Admin API on `admin_listen` otherwise, and stops cleanly on SIGTERM."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import requests

from controlplane.cli import with_db
from controlplane.cluster.gencert import generate
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.waiting import wait_for


def write_conf(tmp: Path, conf, **extra: str) -> Path:
    settings = {"prefix": str(tmp / "prefix"), "pg_host": conf.pg_host, "pg_port": str(conf.pg_port),
                "pg_user": conf.pg_user, "pg_database": conf.pg_database, "log_level": "info", **extra}
    path = tmp / "kong.conf"
    path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    return path


def run(conf_path: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controlplane.cli", "run", "-c", str(conf_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_refuses_a_database_not_bootstrapped(tmp_path, postgres):
    done = run(write_conf(tmp_path, postgres.conf(postgres.create_database())))
    assert done.returncode != 0
    assert "database needs bootstrapping; run 'controlplane migrations bootstrap'" in done.stderr
    assert "Traceback" not in done.stderr


def test_refuses_new_migrations(tmp_path, postgres):
    conf = postgres.conf(postgres.create_database())
    with_db(conf, lambda db: db.migrations.bootstrap())

    async def forget_last() -> None:
        connection = await asyncpg.connect(host=conf.pg_host, port=conf.pg_port, user=conf.pg_user,
                                           database=conf.pg_database)
        name = await connection.fetchval('SELECT max("name") FROM "schema_meta"')
        await connection.execute('DELETE FROM "schema_meta" WHERE "name" = $1', name)
        await connection.close()

    asyncio.run(forget_last())
    done = run(write_conf(tmp_path, conf))
    assert done.returncode != 0
    assert "new migrations available" in done.stderr and "controlplane migrations up" in done.stderr


def test_refuses_the_data_plane_role(tmp_path, db_conf):
    generate(str(tmp_path / "cluster.crt"), str(tmp_path / "cluster.key"))
    done = run(write_conf(tmp_path, db_conf, role="data_plane", database="off",
                          cluster_cert=str(tmp_path / "cluster.crt"),
                          cluster_cert_key=str(tmp_path / "cluster.key")))
    assert done.returncode == 1 and "dataplane run" in done.stderr


def test_serves_admin_listen_until_sigterm(tmp_path, db_conf):
    port = free_port()
    generate(str(tmp_path / "cluster.crt"), str(tmp_path / "cluster.key"))
    path = write_conf(tmp_path, db_conf, role="control_plane",
                      admin_listen=f"127.0.0.1:{port}, 127.0.0.1:{free_port()} ssl",
                      cluster_listen=f"127.0.0.1:{free_port()}",
                      cluster_cert=str(tmp_path / "cluster.crt"),
                      cluster_cert_key=str(tmp_path / "cluster.key"))
    proc = subprocess.Popen([sys.executable, "-m", "controlplane.cli", "run", "-c", str(path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def answer() -> tuple[requests.Response]:
            assert proc.poll() is None, proc.stderr.read()
            return (requests.get(f"http://127.0.0.1:{port}/", timeout=1),)

        (r,) = wait_for(answer, timeout=20, interval=0.1, ignoring=(requests.ConnectionError,),
                        message="the Admin API")
        assert r.status_code == 200 and r.json()["configuration"]["role"] == "control_plane"
        node_id = (tmp_path / "prefix" / "node.id").read_text().strip()
        assert r.json()["node_id"] == node_id
        r = requests.post(f"http://127.0.0.1:{port}/services", json={"name": "p", "host": "a.test"})
        assert r.status_code == 201
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "ssl listeners are not served yet" in proc.stderr.read()
