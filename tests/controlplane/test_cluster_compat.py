"""Compatibility checks (Kong's rules): an incompatible data plane gets a Refusal naming the
sync_status and reason, no config, and the control plane logs why."""
from __future__ import annotations

import asyncio
import logging

import pytest

from controlplane.cli import with_db
from controlplane.cluster import compat
from dataplane import __version__
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane, bundled_plugins
from tests.support.waiting import wait_for_async

CP = __version__  # "0.1.0"
MAJOR, MINOR, _ = (int(p) for p in CP.split("."))


def test_version_rules():
    assert compat.check_version(CP, CP) is None
    assert compat.check_version(f"{MAJOR}.{MINOR}.99", CP) is None  # patch ignored
    newer = compat.check_version(f"{MAJOR}.{MINOR + 1}.0", CP)
    assert newer == compat.Refused(compat.KONG_VERSION_INCOMPATIBLE,
                                   f"data plane version {MAJOR}.{MINOR + 1}.0 is incompatible "
                                   f"with older control plane version {CP}")
    other = compat.check_version(f"{MAJOR + 1}.0.0", CP)
    assert other.reason.endswith(f"({MAJOR}.x.y are accepted)")
    assert compat.check_version("garbage", CP).sync_status == compat.KONG_VERSION_INCOMPATIBLE


def test_plugin_rules():
    cp = {"cors": "1.4.0"}
    assert compat.check_plugins({"cors": "1.4.9"}, ["cors"], cp) is None
    assert compat.check_plugins({"cors": "1.2.0"}, ["cors"], cp) is None  # older minor
    assert compat.check_plugins({}, [], cp) is None  # only configured plugins count
    missing = compat.check_plugins({}, ["cors"], cp)
    assert missing == compat.Refused(compat.PLUGIN_SET_INCOMPATIBLE,
                                     "configured cors plugin 1.4.0 is missing from data plane")
    for dp in ("1.5.0", "2.4.0", "0.4.0"):
        newer = compat.check_plugins({"cors": dp}, ["cors"], cp)
        assert newer == compat.Refused(
            compat.PLUGIN_VERSION_INCOMPATIBLE,
            f"configured data plane cors plugin version {dp} is different to control plane "
            "plugin version 1.4.0")
    # Kong compares only versions both sides give as major.minor
    assert compat.check_plugins({"cors": "unknown"}, ["cors"], cp) is None
    assert compat.check_plugins({"cors": "1.4.0"}, ["cors"], {"cors": ""}) is None
    assert compat.check_plugins({}, ["cors"], {"cors": ""}) == compat.Refused(
        compat.PLUGIN_SET_INCOMPATIBLE, "configured cors plugin is missing from data plane")
    # a configured plugin the control plane does not run is not its to judge
    assert compat.check_plugins({}, ["datadog"], cp) is None


def test_plugin_notes_at_hello():
    cp = {"cors": "1.4.0", "key-auth": "3.10.0", "custom": "2.0.0"}
    dp = {"cors": "1.3.0", "key-auth": "4.0.0", "other": "1.0.0"}
    assert compat.plugin_notes(dp, cp) == [
        (logging.INFO, "data plane cors plugin version 1.3.0 is different to control plane plugin version 1.4.0"),
        (logging.WARNING, "custom plugin 2.0.0 is missing from data plane"),
        (logging.WARNING,
         "data plane key-auth plugin version 4.0.0 is different to control plane plugin version 3.10.0"),
    ]
    assert compat.plugin_notes(cp, cp) == []


@pytest.fixture
def cp_conf(postgres, tmp_path):
    cert, key = shared_pair(tmp_path)
    conf = postgres.conf(postgres.create_database(), role="control_plane", cluster_cert=cert,
                         cluster_cert_key=key)
    with_db(conf, lambda db: db.migrations.bootstrap())
    return conf


def test_refusals_over_the_wire(cp_conf, caplog):
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    cert, key = cp_conf.cluster_cert, cp_conf.cluster_cert_key
    with ControlPlane(cp_conf) as cp:
        cp.request("POST", "/plugins", json={"name": "cors"})
        cp.caught_up()

        async def recorded(dp: TestDataPlane, sync_status: str) -> None:
            """The registry writes a data plane's row in the background: wait for its status."""
            async def listed() -> bool:
                rows = (await cp.arequest("GET", "/clustering/data-planes")).json()["data"]
                return any(row["id"] == dp.node_id and row["sync_status"] == sync_status for row in rows)

            await wait_for_async(listed, interval=0.05, message=f"{dp.node_id} listed as {sync_status}")

        async def first(**kw) -> tuple[str, str, str]:
            dp = TestDataPlane(cp.port, cert, key, cert, **kw)
            await dp.connect()
            message = await dp.receive()
            kind = message.WhichOneof("kind")
            if kind == "full":
                await dp.apply(message)  # acknowledged: "normal"
            await recorded(dp, message.refusal.sync_status if kind == "refusal" else "normal")
            await dp.close()
            return kind, message.refusal.sync_status, message.refusal.reason

        async def scenario():
            newer = f"{MAJOR}.{MINOR + 1}.0"
            assert await first(version=newer) == (
                "refusal", "kong_version_incompatible",
                f"data plane version {newer} is incompatible with older control plane version {CP}")
            # plugin versions are each plugin's own (the control plane's registry), not Gantry's
            cors = bundled_plugins()["cors"]
            assert await first(plugins={"key-auth": cors}) == (
                "refusal", "plugin_set_incompatible",
                f"configured cors plugin {cors} is missing from data plane")
            major, minor, _ = (int(p) for p in cors.split("."))
            newer_plugin = f"{major}.{minor + 1}.0"
            assert await first(plugins={"cors": newer_plugin}) == (
                "refusal", "plugin_version_incompatible",
                f"configured data plane cors plugin version {newer_plugin} is different to "
                f"control plane plugin version {cors}")
            assert (await first(plugins={"cors": f"{major}.{minor}.99"}))[0] == "full"  # patch ignored
            assert (await first())[0] == "full"

            # a data plane that lacks a plugin gets config until the plugin is configured
            dp = TestDataPlane(cp.port, cert, key, cert, plugins={"cors": cors})
            await dp.connect()
            await dp.receive_config()
            await cp.arequest("POST", "/plugins", json={"name": "key-auth"})
            message = await dp.receive()
            assert message.refusal.sync_status == "plugin_set_incompatible"
            await recorded(dp, "plugin_set_incompatible")
            await dp.close()

        asyncio.run(scenario())
        statuses = sorted(row["sync_status"] for row in
                          cp.request("GET", "/clustering/data-planes").json()["data"])
        assert statuses == ["kong_version_incompatible", "normal", "normal", "plugin_set_incompatible",
                            "plugin_set_incompatible", "plugin_version_incompatible"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("unable to send updated configuration to data plane dp-")
               and "is incompatible with older control plane version" in m for m in warnings)
    assert any("configured key-auth plugin" in m and "missing from data plane" in m
               for m in warnings)
