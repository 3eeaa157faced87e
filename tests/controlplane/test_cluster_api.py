"""`GET /clustering/data-planes` and `GET /clustering/status` on a control plane, the 400 on
another role, and the purge of data planes silent for cluster_data_plane_purge_delay."""
from __future__ import annotations

import asyncio
import time

from controlplane.cli import with_db
from controlplane.database.data_planes import DataPlaneStore
from tests.support.admin_api import AdminApi
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane
from tests.support.waiting import wait_for

NOT_CP = ("this endpoint is only available when Kong is configured to run as Control Plane "
          "for the cluster")


def test_data_planes_and_status(postgres, tmp_path):
    cert, key = shared_pair(tmp_path)
    conf = postgres.conf(postgres.create_database(), role="control_plane", cluster_cert=cert,
                         cluster_cert_key=key)
    with_db(conf, lambda db: db.migrations.bootstrap())
    with ControlPlane(conf) as cp:
        cp.request("POST", "/services", json={"name": "s", "url": "http://a.test"})
        cp.caught_up()

        async def scenario():
            synced = TestDataPlane(cp.port, cert, key, cert, labels={"region": "eu"})
            await synced.connect()
            await synced.receive_config()
            behind = TestDataPlane(cp.port, cert, key, cert)
            await behind.connect()
            await behind.receive()  # a full config it never acknowledges
            await cp.arequest("POST", "/services", json={"name": "t", "url": "http://a.test"})
            await synced.receive_config()
            await synced.ping()
            await synced.receive()
            return synced, behind

        synced, behind = asyncio.run(scenario())

        def recorded() -> dict | None:
            """The listing once the registry (writing in the background) has both rows at their
            latest: the synced one at version 2, the lagging one 2 versions behind."""
            body = cp.request("GET", "/clustering/data-planes").json()
            rows = {row["id"]: row for row in body["data"]}
            done = (rows.get(synced.node_id, {}).get("config_version") == 2
                    and rows.get(behind.node_id, {}).get("versions_behind") == 2)
            return body if done else None

        body = wait_for(recorded, message="both data planes recorded")
        assert body["next"] is None
        rows = {row["id"]: row for row in body["data"]}
        row = rows[synced.node_id]
        now = time.time()
        expiry = row.pop("cert_details")["expiry_timestamp"]
        assert expiry > now + 3 * 364 * 86400
        assert abs(row.pop("last_seen") - now) < 10 and abs(row.pop("updated_at") - now) < 10
        assert 1209590 < row.pop("ttl") <= 1209600
        assert row == {
            "id": synced.node_id, "ip": "127.0.0.1", "hostname": f"dp-{synced.node_id[:8]}",
            "version": "0.1.0", "sync_status": "normal", "config_hash": synced.config_hash,
            "labels": {"region": "eu"}, "config_version": 2, "expected_config_hash": synced.config_hash,
            "expected_config_version": 2, "versions_behind": 0}
        lagging = rows[behind.node_id]
        assert (lagging["sync_status"], lagging["config_version"], lagging["versions_behind"]) == \
            ("unknown", 0, 2)
        assert lagging["config_hash"] == "0" * 32

        page = cp.request("GET", "/clustering/data-planes?size=1").json()
        assert len(page["data"]) == 1 and page["next"].startswith("/clustering/data-planes?offset=")
        rest = cp.request("GET", page["next"]).json()
        assert [r["id"] for r in page["data"] + rest["data"]] == sorted(rows)
        assert cp.request("GET", "/clustering/data-planes?offset=bad").status_code == 400

        status = cp.request("GET", "/clustering/status")
        assert status.headers["Deprecation"] == "true"
        assert status.json()[synced.node_id] == {
            "config_hash": synced.config_hash, "hostname": f"dp-{synced.node_id[:8]}",
            "ip": "127.0.0.1", "last_seen": status.json()[synced.node_id]["last_seen"]}
        assert set(status.json()) == set(rows)

        # rows whose time is up are neither listed nor kept
        async def expire():
            store: DataPlaneStore = cp.db.data_planes
            await store.upsert({**rows[behind.node_id], "cert_expiry": None}, ttl=-1)
            return await store.purge()

        assert cp.run(expire()) == 1
        left = cp.request("GET", "/clustering/data-planes").json()["data"]
        assert [r["id"] for r in left] == [synced.node_id]


def test_not_a_control_plane(db_conf):
    with AdminApi(db_conf) as api:
        for path in ("/clustering/data-planes", "/clustering/status"):
            r = api.get(path)
            assert (r.status_code, r.json()) == (400, {"message": NOT_CP})
