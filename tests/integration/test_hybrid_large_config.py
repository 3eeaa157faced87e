"""No payload ceiling between a real `controlplane run` and a real `dataplane run`: 50k services
+ 50k routes (100k entities) imported with `controlplane config db_import` reach the data plane
as one full config of about 44 MB of JSON (above 16 MiB, the figure of Kong's
cluster_max_payload) and 5.4 MB compressed: a gRPC message above gRPC's 4 MiB default limit
(and Kong's former 4 MB ceiling, which 100k-entity configs hit). Kong's 16 MiB applies to the
compressed payload, which configs of this shape reach at about 300k entities."""

from __future__ import annotations

import re

import orjson
import pytest

from tests.support.configs import write_services_yml
from tests.support.processes import controlplane_cli, node_id
from tests.support.waiting import wait_for

SERVICES = 50_000  # one route each: 100k entities
MIB = 1 << 20
APPLIED = re.compile(r"applied \(hash (\w+); services: (\d+), routes: (\d+); "
                     r"([\d,]+) bytes compressed, ([\d,]+) bytes of JSON\)")


@pytest.mark.timeout(240)  # ~30 s alone on 2 cores; room for a loaded machine
def test_a_100k_entity_config_of_44_mb_syncs_whole(control_plane_factory, gateway_factory, upstream, tmp_path):
    cp = control_plane_factory()
    # Connected before the import, so its first config from the import is the whole of it
    # (a change larger than half the config goes as the full config, not as a delta).
    dp = gateway_factory(None, workers=1, conf=cp.data_plane_conf(), wait=False)
    wait_for(lambda: (dp.prefix / "node.id").exists() and node_id(dp) in cp.data_planes(),
             timeout=20, message="the data plane connected")
    # Tagged: without tags the compressed message would be 4.2 MB, at the very edge of 4 MiB.
    write_services_yml(tmp_path / "big.yml", SERVICES, upstream.port, owner_tags=True)
    controlplane_cli("config", "db_import", str(tmp_path / "big.yml"), "-c", str(cp.conf_path))

    dp.wait_ready(timeout=180)
    wait_for(lambda: dp.request("GET", f"/big{SERVICES - 1}/")[0] == 200, timeout=60,
             message="the last route of the config routed")
    status, _, echoed = dp.request("GET", f"/big{SERVICES - 1}/x")
    assert status == 200 and orjson.loads(echoed)["upstream"] == upstream.name

    def in_sync() -> dict | None:
        row = cp.data_planes()[node_id(dp)]
        return row if row["sync_status"] == "normal" and row["versions_behind"] == 0 else None

    row = wait_for(in_sync, message="the data plane listed as in sync")
    served = dp.status()[1]
    assert (served["configuration_version"], served["configuration_hash"]) == \
        (row["expected_config_version"], row["expected_config_hash"]) == (row["config_version"], row["config_hash"])

    # One full config carried it all: sizes as the data plane logged them.
    applied = [match for match in APPLIED.findall(dp.error_log()) if match[0] == served["configuration_hash"]]
    assert len(applied) == 1, dp.error_log()[-2000:]
    _, services, routes, compressed, json = applied[0]
    assert (int(services), int(routes)) == (SERVICES, SERVICES)
    assert int(json.replace(",", "")) > 16 * MIB
    assert int(compressed.replace(",", "")) > 4 * MIB
