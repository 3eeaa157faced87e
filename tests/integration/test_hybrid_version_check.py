"""Kong's version check between a real `controlplane run` and real `dataplane run` processes
that report another Gantry version (through tests.support.dataplane_as_version): a data plane of
another major, or of a newer minor than the control plane's, never receives configuration,
keeps serving what it has, and is listed with sync_status kong_version_incompatible."""

from __future__ import annotations

import sys

from dataplane import __version__
from tests.support.configs import config
from tests.support.processes import Gateway, node_id
from tests.support.waiting import wait_for

_MAJOR, _MINOR, _ = (int(part) for part in __version__.split("."))
OTHER_MAJOR = f"{_MAJOR + 1}.{_MINOR}.0"
NEWER_MINOR = f"{_MAJOR}.{_MINOR + 1}.0"


def reporting(version: str) -> list[str]:
    """The `dataplane` command line of a data plane reporting `version`."""
    return [sys.executable, "-m", "tests.support.dataplane_as_version", version]


def served(dp: Gateway) -> tuple[int, str]:
    body = dp.status()[1]
    return body["configuration_version"], body["configuration_hash"]


def test_data_planes_of_an_incompatible_version_get_no_config_and_keep_serving(
        control_plane_factory, gateway_factory, upstream):
    cp = control_plane_factory()
    assert cp.admin("POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{upstream.port}"})[0] == 201
    assert cp.admin("POST", "/services/echo/routes", {"name": "from-cp", "paths": ["/from-cp"]})[0] == 201

    # A node synced at the control plane's version, then upgraded ahead of it (a newer minor,
    # the rolling-upgrade mistake): it restarts on its LMDB cache.
    upgraded = gateway_factory(None, workers=1, conf=cp.data_plane_conf(), name="upgraded")
    wait_for(lambda: upgraded.request("GET", "/from-cp")[0] == 200, message="the first sync")
    cached = served(upgraded)
    upgraded.stop()
    upgraded.command = reporting(NEWER_MINOR)
    upgraded.start()
    # A brand-new node of another major, serving its declarative file.
    other = gateway_factory(config(upstream.port, "/from-file", "file"), workers=1, conf=cp.data_plane_conf(),
                            name="other", command=reporting(OTHER_MAJOR))
    from_file = served(other)
    # A node of the control plane's own version shows when a change has been pushed.
    current = gateway_factory(None, workers=1, conf=cp.data_plane_conf(), name="current")

    def refused() -> bool:
        rows = cp.data_planes()
        pair = [rows.get(node_id(dp)) for dp in (upgraded, other)]
        return all(row and row["sync_status"] == "kong_version_incompatible" for row in pair)

    wait_for(refused, timeout=20, message="both data planes listed as kong_version_incompatible")
    assert cp.admin("POST", "/services/echo/routes", {"name": "later", "paths": ["/later"]})[0] == 201
    wait_for(lambda: current.request("GET", "/later")[0] == 200, timeout=20, message="the change pushed")

    # Never configured: each serves what it had, and nothing the control plane holds since.
    assert served(upgraded) == cached
    assert upgraded.request("GET", "/from-cp")[0] == 200 and upgraded.request("GET", "/later")[0] == 404
    assert served(other) == from_file and from_file[0] == 0
    assert other.request("GET", "/from-file")[0] == 200
    assert other.request("GET", "/from-cp")[0] == 404 and other.request("GET", "/later")[0] == 404
    for dp in (upgraded, other):
        assert dp.status("/status/ready")[0] == 200
        assert "(sync_status kong_version_incompatible)" in dp.error_log()

    # Listed with the version each reports and the config it really serves, behind the others.
    expected = served(current)
    wait_for(lambda: cp.data_planes()[node_id(current)]["config_hash"] == expected[1],
             message="the compatible data plane listed with the pushed config")
    rows = cp.data_planes()
    assert rows[node_id(current)]["sync_status"] == "normal"
    for dp, version, holds in ((upgraded, NEWER_MINOR, cached), (other, OTHER_MAJOR, from_file)):
        row = rows[node_id(dp)]
        assert row["sync_status"] == "kong_version_incompatible"
        assert (row["version"], row["config_version"], row["config_hash"]) == (version, *holds)
        assert row["expected_config_version"] == expected[0] and row["versions_behind"] == expected[0] - holds[0]

    # Kong's warning, naming the data plane and the reason.
    log = cp.log.read_text()
    assert (f"unable to send updated configuration to data plane {rows[node_id(other)]['hostname']} "
            f"(id: {node_id(other)}, ip: 127.0.0.1): data plane version {OTHER_MAJOR} is incompatible with "
            f"control plane version {__version__} ({_MAJOR}.x.y are accepted)") in log
    assert (f"(id: {node_id(upgraded)}, ip: 127.0.0.1): data plane version {NEWER_MINOR} is incompatible "
            f"with older control plane version {__version__}") in log
