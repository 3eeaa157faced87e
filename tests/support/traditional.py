"""Traditional nodes as users run them: `dataplane run` with role = traditional and
database = postgres on a PostgreSQL of tests.support.postgres, each with its own prefix, its
Admin API on a loopback port of its own and its proxy and status listeners."""

from __future__ import annotations

from pathlib import Path

from tests.support.ports import free_port
from tests.support.postgres import SUPERUSER, PostgresCluster
from tests.support.processes import AdminClient, Gateway, controlplane_cli
from tests.support.waiting import wait_for


def pg_settings(cluster: PostgresCluster, database: str) -> dict[str, str]:
    return {"pg_host": cluster.host, "pg_port": str(cluster.port), "pg_user": SUPERUSER, "pg_database": database}


class TraditionalNode(Gateway, AdminClient):
    def __init__(self, tmp: Path, pg: dict[str, str], *, workers: int = 2, conf: dict[str, str] | None = None) -> None:
        self.admin_port = free_port()
        settings: dict[str, str | None] = {
            "role": "traditional",
            "database": "postgres",
            **pg,
            "admin_listen": f"127.0.0.1:{self.admin_port}",
            "db_update_frequency": "1",
            **(conf or {}),
        }
        super().__init__(tmp, None, workers=workers, conf=settings)
        self.settings = settings

    def raw_conf(self, key: str) -> str | None:
        """A key as written in this node's conf."""
        return self.settings.get(key)

    def migrations(self, command: str = "bootstrap") -> str:
        """`controlplane migrations <command>` with this node's conf."""
        return controlplane_cli("migrations", command, "-c", str(self.conf_path))

    def start_admin(self) -> TraditionalNode:
        """Start and wait for the Admin API only (a node on an empty database is not ready)."""
        self.start(wait=False)
        wait_for(self._admin_up, timeout=30, interval=0.05, ignoring=(OSError,), message="the node's Admin API")
        return self

    def _admin_up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"node exited with {self.proc.returncode}: {self.stderr()}")
        return self.admin("GET", "/status")[0] == 200

    def served(self) -> tuple[int, str]:
        body = self.status()[1]
        return body["configuration_version"], body["configuration_hash"]
