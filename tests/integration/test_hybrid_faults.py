"""Hybrid mode under faults, with real processes: PostgreSQL, `controlplane run`, two
`dataplane run` data planes (2 workers each) and an echo upstream.

The module shares one PostgreSQL and one cluster (control plane + two data planes serving
`/stable`); a test that breaks a piece of it brings it back before it ends.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.configs import write_services_yml
from tests.support.echo_upstream import Upstream
from tests.support.load import Load
from tests.support.ports import dead_port
from tests.support.processes import ControlPlane, Gateway, controlplane_cli, gen_cert, node_id
from tests.support.waiting import wait_for

CUSTOM_PLUGINS = Path(__file__).resolve().parent.parent / "support" / "custom_plugins"

PROPAGATION_BOUND = 5.0  # seconds; generous for a loaded 2-core machine (the bench measures ms)


@dataclass
class Cluster:
    cp: ControlPlane
    dps: list[Gateway]
    upstream: Upstream

    def routed(self, path: str, status: int = 200) -> bool:
        return all(dp.request("GET", path)[0] == status for dp in self.dps)

    def served(self) -> list[tuple[int, str]]:
        return [(body["configuration_version"], body["configuration_hash"])
                for body in (dp.status()[1] for dp in self.dps)]


@pytest.fixture(scope="module")
def cluster(control_plane_factory, module_gateway_factory, module_upstream) -> Cluster:
    cp = control_plane_factory()
    code, service = cp.admin("POST", "/services", {"name": "stable", "url": f"http://127.0.0.1:{module_upstream.port}"})
    assert code == 201, service
    assert cp.admin("POST", "/services/stable/routes", {"name": "stable", "paths": ["/stable"]})[0] == 201
    dps = [module_gateway_factory(None, name=f"dp{i}", conf=cp.data_plane_conf()) for i in range(2)]
    cluster = Cluster(cp, dps, module_upstream)
    wait_for(lambda: cluster.routed("/stable"), message="/stable on both data planes")
    return cluster


def add_route(cp: ControlPlane, name: str) -> None:
    code, body = cp.admin("POST", "/services/stable/routes", {"name": name, "paths": [f"/{name}"]})
    assert code == 201, body


def test_an_admin_api_write_is_routed_by_every_data_plane_within_a_bound(cluster):
    started = time.monotonic()
    add_route(cluster.cp, "bounded")
    wait_for(lambda: cluster.routed("/bounded"), timeout=PROPAGATION_BOUND, interval=0.005,
             message="the new route on both data planes")
    assert time.monotonic() - started < PROPAGATION_BOUND


def test_100_admin_api_changes_under_load_fail_no_request(cluster):
    with Load(cluster.dps[0].port, "/stable", clients=2) as load0, Load(cluster.dps[1].port, "/stable", clients=2) as load1:
        for i in range(100):
            if i % 2:  # the service the load goes through changes too: router and balancer rebuilt
                code, body = cluster.cp.admin("PATCH", "/services/stable", {"retries": i})
                assert code == 200, body
            else:
                add_route(cluster.cp, f"change{i}")
        wait_for(lambda: cluster.routed("/change98"), timeout=PROPAGATION_BOUND, message="the last change")
    assert load0.failures == [] and load1.failures == []
    assert load0.ok > 0 and load1.ok > 0
    expected = cluster.cp.data_planes()[node_id(cluster.dps[0])]["expected_config_version"]
    wait_for(lambda: {v for v, _ in cluster.served()} == {expected}, message="both data planes at the last version")


def test_database_down_writes_answer_503_and_data_planes_keep_serving(cluster, postgres):
    def failed_reads() -> int:
        return cluster.cp.log.read_text(errors="replace").count("unable to read the configuration from the database")

    before, reads_failed = cluster.served(), failed_reads()
    postgres.stop()
    try:
        code, body = cluster.cp.admin("POST", "/services/stable/routes", {"name": "during", "paths": ["/during"]})
        assert code == 503, body
        # The control plane's failed reads push nothing: no empty config replaces the served one.
        wait_for(lambda: failed_reads() > reads_failed, message="a failed read of the configuration (1 s poll)")
        time.sleep(0.5)  # the point: no push follows the failed read within half a second
        assert cluster.served() == before
        assert cluster.routed("/stable")
    finally:
        postgres.start()
    wait_for(lambda: cluster.cp.admin("POST", "/services/stable/routes",
                                      {"name": "after", "paths": ["/after"]})[0] == 201,
             timeout=20, interval=0.2, message="Admin API writes after the database is back")
    wait_for(lambda: cluster.routed("/after"), timeout=PROPAGATION_BOUND, message="a write after recovery")


def test_control_plane_killed_under_load_data_planes_serve_every_request(cluster):
    with Load(cluster.dps[0].port, "/stable", clients=2) as load0, Load(cluster.dps[1].port, "/stable", clients=2) as load1:
        wait_for(lambda: load0.ok > 50 and load1.ok > 50, message="load running")
        cluster.cp.kill()
        wait_for(lambda: not any(dp.status()[1]["control_plane"]["connected"] for dp in cluster.dps),
                 message="both data planes see the link down")
        counts = load0.ok, load1.ok
        wait_for(lambda: load0.ok > counts[0] + 100 and load1.ok > counts[1] + 100, message="load after the kill")
    assert load0.failures == [] and load1.failures == []

    # Restarted while no control plane answers: the node serves its LMDB cache.
    dp = cluster.dps[1]
    served = cluster.served()[1]
    dp.stop()
    dp.start()
    assert dp.request("GET", "/stable")[0] == 200
    assert cluster.served()[1] == served

    cluster.cp.start()
    wait_for(lambda: all(dp.status()[1]["control_plane"]["connected"] for dp in cluster.dps),
             timeout=PROPAGATION_BOUND, message="data planes reconnected")
    add_route(cluster.cp, "reconnected")
    wait_for(lambda: cluster.routed("/reconnected"), timeout=PROPAGATION_BOUND, message="pushes after the restart")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_data_plane_killed_while_applying_a_big_config_restarts_on_the_last_complete_one(
        control_plane_factory, gateway_factory, upstream, tmp_path):
    cp = control_plane_factory()
    assert cp.admin("POST", "/services", {"name": "small", "url": f"http://127.0.0.1:{upstream.port}"})[0] == 201
    assert cp.admin("POST", "/services/small/routes", {"name": "small", "paths": ["/small"]})[0] == 201
    dp = gateway_factory(None, conf=cp.data_plane_conf())
    wait_for(lambda: dp.request("GET", "/small")[0] == 200, message="the small config")
    small = dp.status()[1]
    served = small["configuration_version"], small["configuration_hash"]

    write_services_yml(tmp_path / "big.yml", 10_000, upstream.port)
    controlplane_cli("config", "db_import", str(tmp_path / "big.yml"), "-c", str(cp.conf_path))
    # The supervisor decodes, validates and writes the 20k entities (~1-2 s here): kill it
    # once it has burnt 0.3 s of CPU on them, i.e. in the middle of the apply.
    wait_for(lambda: cp.data_planes()[node_id(dp)]["expected_config_version"] > served[0],
             message="the control plane read the import")
    busy_from = cpu_seconds(dp.proc.pid)
    wait_for(lambda: cpu_seconds(dp.proc.pid) > busy_from + 0.3, interval=0.005, message="the apply running")
    dp.kill()
    assert "routes: 10001" not in dp.error_log(), "the apply ended before the kill"

    dp.set_conf(cluster_control_plane=f"127.0.0.1:{dead_port()}")  # the cache alone, no control plane
    dp.start()
    restarted = dp.status()[1]
    assert (restarted["configuration_version"], restarted["configuration_hash"]) == served
    assert dp.request("GET", "/small")[0] == 200
    assert dp.request("GET", "/big0/")[0] == 404


def test_refused_data_planes_are_not_served_and_listed_with_their_reason(control_plane_factory, gateway_factory,
                                                                         tmp_path):
    # A custom plugin enabled on the control plane that no data plane carries: Kong's plugin
    # check refuses every data plane.
    cp = control_plane_factory({"plugins": "bundled,only-on-the-control-plane"},
                               env={"PYTHONPATH": str(CUSTOM_PLUGINS)})
    assert cp.admin("POST", "/plugins", {"name": "only-on-the-control-plane"})[0] == 201
    refused = gateway_factory(None, conf=cp.data_plane_conf(), wait=False, name="refused")
    other_cert, other_key = gen_cert(tmp_path)
    stranger = gateway_factory(None, conf=cp.data_plane_conf(other_cert, other_key), wait=False, name="stranger")

    def refused_row() -> dict | None:
        row = (refused.prefix / "node.id").exists() and cp.data_planes().get(node_id(refused))
        # listed at its hello as "unknown", then with the check's verdict
        return row if row and row["sync_status"] != "unknown" else None

    row = wait_for(refused_row, message="the refused data plane listed with a verdict")
    assert row["sync_status"] == "plugin_set_incompatible"
    assert refused.status("/status/ready")[0] == 503  # nothing to serve: never sent a config
    # A certificate the control plane does not trust ends the connection before any hello:
    # the node is never listed and never connected.
    wait_for(lambda: "refused a data plane connection" in cp.log_text(), message="the TLS refusal logged")
    wait_for(lambda: (stranger.prefix / "node.id").exists(), message="the stranger's node id")
    assert node_id(stranger) not in cp.data_planes()
    assert stranger.status()[1]["control_plane"]["connected"] is False
