"""The demo's PostgreSQL: one cluster kept in servroot/pg across runs of `make run`, started on
a free loopback port each time and stopped when the demo ends (tests.support.postgres does the rest)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess

from tests.support.ports import free_port
from tests.support.postgres import SUPERUSER, PostgresCluster, server_bin_dir


class DemoPostgres(PostgresCluster):
    @classmethod
    def open(cls, directory: str) -> DemoPostgres:
        """Start the cluster in `directory`, creating it when missing or half-made."""
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL server binaries not found under /usr/lib/postgresql; "
                "install the postgresql package (apt-get install postgresql)"
            )
        directory = os.path.abspath(directory)  # pg_ctl runs inside it
        os.makedirs(directory, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        cluster = cls(bin_dir, directory, free_port())
        if os.path.exists(os.path.join(cluster.data, "PG_VERSION")):
            cluster.stop_leftover()
        else:
            shutil.rmtree(cluster.data, ignore_errors=True)  # an initdb cut short
            cluster._server("initdb", "-D", cluster.data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")
        cluster.start()
        return cluster

    def stop_leftover(self) -> None:
        """A server left running by a demo that was killed would hold the data directory."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            with contextlib.suppress(RuntimeError):  # a stale pid file: pg_ctl start copes with it
                self.stop()

    def ensure_database(self, name: str) -> None:
        done = subprocess.run(
            [os.path.join(self.bin_dir, "createdb"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, name],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise RuntimeError(f"createdb {name} failed: {done.stderr}")
