"""Throwaway PostgreSQL clusters for tests (docs/architecture.md, "Testing and benchmarks").

    cluster = PostgresCluster.start_new()      # initdb + pg_ctl start on a free local port
    conf = cluster.conf(cluster.create_database())
    cluster.stop(); cluster.start()            # e.g. to test outages
    cluster.destroy()

The server refuses to run as root, so when the tests run as root the server binaries run as
the `postgres` user in a directory it owns. Clients connect over TCP to 127.0.0.1 as the
`postgres` superuser with trust authentication.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from dataplane.conf import Conf, load_conf
from tests.support.ports import free_port

SUPERUSER = "postgres"
_names = itertools.count(1)


def server_bin_dir() -> str | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb, or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return os.path.dirname(max(found, key=lambda p: int(p.split("/")[4])))


class PostgresCluster:
    def __init__(self, bin_dir: str, directory: str, port: int) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.host = "127.0.0.1"
        self.port = port

    @classmethod
    def start_new(cls) -> PostgresCluster:
        bin_dir = server_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL server binaries not found under /usr/lib/postgresql; install the postgresql package"
            )
        directory = tempfile.mkdtemp(prefix="gantry-pg-")
        cluster = cls(bin_dir, directory, free_port())
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        cluster._server("initdb", "-D", cluster.data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")
        cluster.start()
        return cluster

    def _server(self, program: str, *args: str) -> None:
        command = [os.path.join(self.bin_dir, program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.directory)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> None:
        # Durability settings off: these clusters die with the test run.
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses={self.host} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._server(
            "pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.directory, "server.log"), "-w", "start"
        )

    def stop(self) -> None:
        self._server("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (named uniquely unless `name` is given)."""
        name = name or f"test_{os.getpid()}_{next(_names)}"
        subprocess.run(
            [os.path.join(self.bin_dir, "createdb"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, name],
            check=True,
            capture_output=True,
        )
        return name

    def conf(self, database: str, **overrides: object) -> Conf:
        """A kong.conf pointing at `database` on this cluster."""
        settings = {
            "pg_host": self.host,
            "pg_port": self.port,
            "pg_user": SUPERUSER,
            "pg_database": database,
            "admin_access_log": "off",  # in-process Admin APIs: nothing written under the default prefix
            **overrides,
        }
        return load_conf(None, env={}, overrides=settings)


def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A fixture body: a fresh cluster for the fixture's scope, destroyed after it (skipped
    where PostgreSQL's server binaries are not installed)."""
    if server_bin_dir() is None:
        import pytest

        pytest.skip("PostgreSQL server binaries not installed")
    cluster = PostgresCluster.start_new()
    yield cluster
    cluster.destroy()
