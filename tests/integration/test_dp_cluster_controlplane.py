"""`dataplane run` (role = data_plane, 2 workers) against a real `controlplane run` on PostgreSQL:
Admin API writes reach the data plane, as a full config on connect and as changes after."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.harness import ROOT, free_port, wait_for
from tests.postgres import PostgresCluster


def cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "controlplane.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


class ControlPlane:
    def __init__(self, tmp: Path, postgres: PostgresCluster, cert: Path, key: Path) -> None:
        self.admin_port, self.cluster_port = free_port(), free_port()
        self.conf_path = tmp / "cp.conf"
        settings = {
            "role": "control_plane", "prefix": str(tmp / "cp"),
            "pg_host": postgres.host, "pg_port": str(postgres.port), "pg_user": "postgres",
            "pg_database": postgres.create_database(),
            "admin_listen": f"127.0.0.1:{self.admin_port}", "cluster_listen": f"127.0.0.1:{self.cluster_port}",
            "cluster_cert": str(cert), "cluster_cert_key": str(key), "db_update_frequency": "1",
        }
        self.conf_path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        cli("migrations", "bootstrap", "-c", str(self.conf_path))
        self.log = tmp / "cp.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "controlplane.cli", "run", "-c", str(self.conf_path)],
                                         cwd=ROOT, stdout=out, stderr=out, start_new_session=True)
        wait_for(lambda: self._up(), timeout=30, interval=0.1, message="controlplane admin API")

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            self.admin("GET", "/")
            return True
        except OSError:
            return False

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.admin_port}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def control_plane(tmp_path, postgres):
    cert, key = tmp_path / "cluster.crt", tmp_path / "cluster.key"
    cli("hybrid", "gen_cert", str(cert), str(key))
    cp = ControlPlane(tmp_path, postgres, cert, key)
    yield cp
    cp.stop()


def test_admin_api_writes_reach_the_data_plane(control_plane, gateway_factory, upstream):
    cp = control_plane
    cp.admin("POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{upstream.port}"})
    first = cp.admin("POST", "/services/echo/routes", {"name": "first", "paths": ["/first"]})

    conf_text = cp.conf_path.read_text()
    cert = next(line.split(" = ")[1] for line in conf_text.splitlines() if line.startswith("cluster_cert ="))
    key = next(line.split(" = ")[1] for line in conf_text.splitlines() if line.startswith("cluster_cert_key ="))
    gw = gateway_factory(None, workers=2, name="dp", conf={
        "role": "data_plane", "cluster_control_plane": f"127.0.0.1:{cp.cluster_port}",
        "cluster_cert": cert, "cluster_cert_key": key})
    assert gw.request("GET", "/first")[0] == 200  # the full config on connect
    status = gw.status()[1]
    assert status["control_plane"]["connected"] is True
    first_version = status["configuration_version"]
    assert first_version > 0

    cp.admin("POST", "/services/echo/routes", {"name": "second", "paths": ["/second"]})
    wait_for(lambda: gw.request("GET", "/second")[0] == 200, timeout=20, message="route added on the CP served")
    cp.admin("DELETE", f"/routes/{first['id']}")
    wait_for(lambda: gw.request("GET", "/first")[0] == 404, timeout=20, message="route deleted on the CP gone")
    assert gw.request("GET", "/second")[0] == 200
    assert gw.status()[1]["configuration_version"] > first_version

    # The control plane lists the node with the hash it serves.
    node_id = (gw.prefix / "node.id").read_text().strip()
    served = gw.status()[1]["configuration_hash"]

    def listed():
        rows = cp.admin("GET", "/clustering/data-planes").get("data", [])
        return next((r for r in rows if r["id"] == node_id and r["config_hash"] == served), None)

    row = wait_for(listed, timeout=20, message="data plane listed by the control plane")
    assert row["sync_status"] == "normal"

    # Control plane gone: the node keeps serving; back: it catches up.
    cp.stop()
    wait_for(lambda: gw.status()[1]["control_plane"]["connected"] is False, message="link down")
    assert gw.request("GET", "/second")[0] == 200
