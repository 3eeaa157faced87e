"""A control plane in the test process: the Admin API (tests.support.admin_api) and the cluster
listener on loopback, sharing one thread, loop and database handle, as `controlplane run` has
them; and the shared-mode certificate pair its data planes present."""

from __future__ import annotations

from pathlib import Path

from controlplane.cluster import ClusterServer
from controlplane.cluster.gencert import generate
from dataplane.conf import Conf
from tests.support.admin_api import AdminApi
from tests.support.ports import listening_socket
from tests.support.waiting import wait_for


def shared_pair(directory: Path) -> tuple[str, str]:
    """A `controlplane hybrid gen_cert` pair in `directory`."""
    cert, key = str(directory / "cluster.crt"), str(directory / "cluster.key")
    if not Path(cert).exists():
        generate(cert, key)
    return cert, key


class ControlPlane(AdminApi):
    """`with ControlPlane(conf) as cp:` Admin API at cp.url, cluster listener on cp.port."""

    def __init__(self, conf: Conf, poll_interval: float = 1.0) -> None:
        super().__init__(conf)
        self.poll_interval = poll_interval
        self.cluster_sock = listening_socket()
        self.port = self.cluster_sock.getsockname()[1]

    async def _start_cluster(self) -> ClusterServer:
        self.cluster = ClusterServer(self.conf, self.db, poll_interval=self.poll_interval)
        await self.cluster.start([self.cluster_sock])
        return self.cluster

    async def _stop_cluster(self) -> None:
        await self.cluster.stop()

    def caught_up(self, timeout: float = 10) -> int:
        """Wait until the cluster side serves the database's latest version; that version."""

        def served() -> tuple[int] | None:
            latest = self.run(self.db.changes.current_version())
            return (latest,) if self.cluster.expected.version == latest else None

        return wait_for(served, timeout, message="the control plane to catch up with the database")[0]
