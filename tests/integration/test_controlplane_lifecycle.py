"""`controlplane start|stop|quit|health|version` on real processes and a real PostgreSQL,
and the control plane's logs: the error log at log_level = notice (start, pushes, data plane
connects and refusals, shutdown) and the Admin API access log."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from dataplane import __version__
from dataplane.lifecycle import pidfile
from tests.support.paths import CONTROLPLANE, DATAPLANE, ROOT
from tests.support.postgres import SUPERUSER
from tests.support.processes import ControlPlane, gen_cert
from tests.support.traditional import TraditionalNode, pg_settings
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CONTROLPLANE, *args], cwd=ROOT, capture_output=True, text=True, timeout=90)


@pytest.fixture
def control_plane(postgres, cluster_certs, tmp_path: Path):
    """A bootstrapped control plane's conf at log_level = notice, not started; whatever runs
    on its prefix at the end is stopped."""
    pg = {
        "pg_host": postgres.host,
        "pg_port": str(postgres.port),
        "pg_user": SUPERUSER,
        "pg_database": postgres.create_database(),
    }
    cp = ControlPlane(tmp_path, pg, *cluster_certs, {"log_level": "notice"})
    cp.bootstrap()
    yield cp
    prefix = str(tmp_path / "cp")
    if pidfile.running_pid(prefix) is not None:
        cli("quit", "-p", prefix, "--timeout", "5")


def error_log(cp: ControlPlane) -> str:
    return (cp.conf_path.parent / "cp" / "logs" / "error.log").read_text(errors="replace")


def test_start_health_quit_and_the_logs(control_plane: ControlPlane, tmp_path: Path, gateway_factory) -> None:
    cp = control_plane
    prefix = tmp_path / "cp"
    started = cli("start", "-c", str(cp.conf_path))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "Gantry started"
    assert cp.admin("GET", "/")[0] == 200  # up when start returns
    pid = int((prefix / "pids" / "nginx.pid").read_text())

    health = cli("health", "-p", str(prefix))
    assert health.returncode == 0, health.stderr
    assert f"controlplane..running (pid {pid})" in health.stdout
    assert f"Gantry is healthy at {prefix}" in health.stdout
    again = cli("start", "-c", str(cp.conf_path))
    assert again.returncode == 1 and f"Error: Gantry is already running in {prefix}" in again.stderr
    run = cli("run", "-c", str(cp.conf_path))
    assert run.returncode == 1 and f"Gantry is already running in {prefix}" in run.stderr
    assert cli("version").stdout.strip() == __version__

    # an Admin API write: in the access log, in nginx's combined format
    cp.admin_ok("POST", "/services", {"name": "svc", "url": "http://127.0.0.1:9"})
    access = (prefix / "logs" / "admin_access.log").read_text()
    assert re.search(
        r"^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
        r'"POST /services HTTP/1\.1" 201 \d+ "-" "-"$',
        access,
        re.M,
    ), access

    # a data plane connects and gets pushes; one with another certificate is refused
    dp = gateway_factory(None, workers=1, conf={**cp.data_plane_conf(), "admin_listen": "off"}, wait=False)
    wait_for(lambda: " connected (version " in error_log(cp), timeout=30)
    cp.admin_ok("POST", "/services/svc/routes", {"name": "r", "paths": ["/r"]})
    wait_for(lambda: re.search(r"configuration version \d+: pushing to 1 data plane", error_log(cp)), timeout=30)
    other_cert, other_key = gen_cert(tmp_path)
    gateway_factory(
        None, workers=1, conf={**cp.data_plane_conf(other_cert, other_key), "admin_listen": "off"}, wait=False
    )
    wait_for(lambda: "refused" in error_log(cp), timeout=30)

    dp.stop()
    wait_for(lambda: " disconnected" in error_log(cp), timeout=30)
    quitting = cli("quit", "-p", str(prefix))
    assert quitting.returncode == 0, quitting.stderr
    assert quitting.stdout.strip() == "Gantry stopped (gracefully)"
    assert not pidfile.is_alive(pid)
    log = error_log(cp)
    for line in (
        f"Admin API listening on 127.0.0.1:{cp.admin_port}",
        f"cluster listener on 127.0.0.1:{cp.cluster_port}",
        "gantry " + __version__ + " started: role control_plane",
        "[notice]",
        "signal 3 received, stopping the Admin API",
        "gantry stopped",
    ):
        assert line in log, (line, log)
    assert "[info]" not in log  # log_level = notice
    health = cli("health", "-p", str(prefix))
    assert health.returncode == 1 and f"Error: Gantry is not running at {prefix}" in health.stderr


def test_a_start_on_a_database_not_bootstrapped_fails(postgres, cluster_certs, tmp_path: Path) -> None:
    pg = {
        "pg_host": postgres.host,
        "pg_port": str(postgres.port),
        "pg_user": SUPERUSER,
        "pg_database": postgres.create_database(),
    }
    cp = ControlPlane(tmp_path, pg, *cluster_certs, {"admin_access_log": "off"})
    started = cli("start", "-c", str(cp.conf_path))
    assert started.returncode == 1
    assert started.stderr.startswith("Error: ")
    assert "bootstrap" in started.stderr
    assert pidfile.running_pid(str(tmp_path / "cp")) is None
    wrong = cli("start", "-c", str(cp.conf_path), "-p", str(tmp_path / "other"))
    assert wrong.returncode == 1


def test_stop(control_plane: ControlPlane, tmp_path: Path) -> None:
    cp = control_plane
    started = cli("start", "-c", str(cp.conf_path), "--v")
    assert started.returncode == 0, started.stderr
    assert f"prefix: {tmp_path / 'cp'}" in started.stdout
    pid = int((tmp_path / "cp" / "pids" / "nginx.pid").read_text())
    stopped = cli("stop", "-p", str(tmp_path / "cp"))
    assert stopped.returncode == 0 and stopped.stdout.strip() == "Gantry stopped"
    assert not pidfile.is_alive(pid)
    assert "signal 15 received, stopping the Admin API" in error_log(cp)


def test_a_traditional_node_started_as_a_daemon_logs_its_admin_api(postgres, tmp_path: Path) -> None:
    database = postgres.create_database()
    node = TraditionalNode(tmp_path, pg_settings(postgres, database), workers=1, conf={"log_level": "notice"})
    node.migrations("bootstrap")
    started = subprocess.run(
        [str(DATAPLANE), "start", "-c", str(node.conf_path)], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert started.returncode == 0, started.stderr
    try:
        wait_for(node._admin_up, timeout=30, ignoring=(OSError,))
        node.admin_ok("POST", "/services", {"name": "svc", "url": "http://127.0.0.1:9"})
        access = (node.prefix / "logs" / "admin_access.log").read_text()
        assert '"POST /services HTTP/1.1" 201 ' in access
        assert f"Admin API listening on 127.0.0.1:{node.admin_port}" in node.error_log()
        # reload: kong.conf re-read (log_level), the database read at once
        node.conf_path.write_text(node.conf_path.read_text().replace("log_level = notice", "log_level = info"))
        reloaded = subprocess.run(
            [str(DATAPLANE), "reload", "-c", str(node.conf_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert reloaded.returncode == 0, reloaded.stderr
        wait_for(lambda: "reload: log_level is now info" in node.error_log(), timeout=10)
        assert "reload requested: reading the configuration from the database" in node.error_log()
    finally:
        quitting = subprocess.run(
            [str(DATAPLANE), "quit", "-p", str(node.prefix)], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    assert quitting.returncode == 0, quitting.stderr
    assert quitting.stdout.strip() == "Gantry stopped (gracefully)"
