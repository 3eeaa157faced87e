"""Kong's node lifecycle commands on real processes: `dataplane start` (daemonised, returning
once the node serves), stop, quit with --wait and --timeout, reload under a steady request
stream, restart, health, version, the pid file and the refused second node on a prefix."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from dataplane import __version__
from dataplane.lifecycle import pidfile
from tests.support.load import Load
from tests.support.paths import DATAPLANE, ROOT
from tests.support.processes import Gateway
from tests.support.scripted_upstream import ScriptedUpstream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

YML = """
_format_version: "3.0"
services:
- name: svc
  url: http://127.0.0.1:{port}
  routes:
  - name: a
    paths: [/a]
"""

YML_B = (
    YML
    + """  - name: b
    paths: [/b]
"""
)


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DATAPLANE), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def get(port: int, path: str, timeout: float = 10) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def upstream():
    server = ScriptedUpstream("one")
    yield server
    server.close()


@pytest.fixture
def node(tmp_path: Path, upstream: ScriptedUpstream):
    """A kong.conf and kong.yml on a prefix of their own, nothing started; whatever runs on
    the prefix at the end is killed."""
    gateway = Gateway(
        tmp_path,
        textwrap.dedent(YML.format(port=upstream.port)),
        workers=2,
        conf={"log_level": "notice", "admin_listen": "off"},
    )
    yield gateway
    pid = pidfile.running_pid(str(gateway.prefix))
    if pid is not None:
        for child in pidfile.children(pid):
            os.kill(child, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)


def test_start_health_stop_and_the_pid_file(node: Gateway) -> None:
    started = cli("start", "-c", str(node.conf_path))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "Gantry started"
    # up when start returns: the workers serve at once
    assert get(node.port, "/a") == 200
    pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    assert pidfile.is_alive(pid)
    workers = pidfile.children(pid)
    assert len(workers) == 2

    health = cli("health", "-p", str(node.prefix))
    assert health.returncode == 0, health.stderr
    assert "supervisor....running" in health.stdout
    assert "workers.......running (2" in health.stdout
    assert f"Gantry is healthy at {node.prefix}" in health.stdout

    again = cli("start", "-c", str(node.conf_path))
    assert again.returncode == 1
    assert f"Error: Gantry is already running in {node.prefix}" in again.stderr
    run = cli("run", "-c", str(node.conf_path), timeout=30)
    assert run.returncode == 1
    assert f"Gantry is already running in {node.prefix}" in run.stderr
    assert get(node.port, "/a") == 200  # the refused starts touched nothing

    stopped = cli("stop", "-p", str(node.prefix), "--v")
    assert stopped.returncode == 0, stopped.stderr
    assert f"sending SIGTERM signal to the node running with pid {pid}" in stopped.stdout
    assert stopped.stdout.strip().endswith("Gantry stopped")
    assert not pidfile.is_alive(pid)
    assert not any(pidfile.is_alive(w) for w in workers)
    assert not (node.prefix / "pids" / "nginx.pid").exists()

    health = cli("health", "-p", str(node.prefix))
    assert health.returncode == 1
    assert "supervisor....not running" in health.stdout
    assert f"Error: Gantry is not running at {node.prefix}" in health.stderr
    assert cli("stop", "-p", str(node.prefix)).returncode == 1


def test_a_killed_node_leaves_no_lock(node: Gateway) -> None:
    assert cli("start", "-c", str(node.conf_path)).returncode == 0
    pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    for child in pidfile.children(pid):
        os.kill(child, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pidfile.is_alive(pid), timeout=10)
    assert (node.prefix / "pids" / "nginx.pid").exists()  # stale, but not locked
    started = cli("start", "-c", str(node.conf_path))
    assert started.returncode == 0, started.stderr
    assert get(node.port, "/a") == 200


def test_a_start_that_fails_says_why(node: Gateway) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", node.port))
        taken.listen()
        started = cli("start", "-c", str(node.conf_path))
    assert started.returncode == 1
    assert started.stderr.startswith("Error: ")
    assert "Address already in use" in started.stderr
    assert pidfile.running_pid(str(node.prefix)) is None

    node.yml_path.write_text("_format_version: '3.0'\nservices: [{name: x}]\n")
    started = cli("start", "-c", str(node.conf_path))
    assert started.returncode == 1
    assert started.stderr.startswith("Error: ")
    assert "invalid" in started.stderr

    node.conf_path.write_text(node.conf_path.read_text() + "nginx_worker_processes = many\n")
    started = cli("start", "-c", str(node.conf_path))
    assert started.returncode == 1
    assert "Error: " in started.stderr and "nginx_worker_processes" in started.stderr


def test_quit_waits_then_drains(node: Gateway, upstream: ScriptedUpstream) -> None:
    assert cli("start", "-c", str(node.conf_path)).returncode == 0
    pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    upstream.delay = 1.5
    results: list[int] = []
    began = time.monotonic()
    quitting = subprocess.Popen(
        [str(DATAPLANE), "quit", "-p", str(node.prefix), "--wait", "1", "--timeout", "10", "--v"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # a request sent during --wait is still served, and one in flight at SIGQUIT completes
    results.append(get(node.port, "/a"))
    out, err = quitting.communicate(timeout=30)
    assert quitting.returncode == 0, err
    assert time.monotonic() - began >= 1.0
    assert "waiting 1 seconds before quitting" in out
    assert "Gantry stopped (gracefully)" in out
    assert results == [200]
    assert not pidfile.is_alive(pid)


def test_quit_forces_a_stop_after_the_timeout(node: Gateway, upstream: ScriptedUpstream) -> None:
    assert cli("start", "-c", str(node.conf_path)).returncode == 0
    pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    workers = pidfile.children(pid)
    upstream.delay = 8
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    conn.request("GET", "/a")  # in flight through the whole quit
    wait_for(lambda: upstream.requests == 1, timeout=10)
    began = time.monotonic()
    quitting = cli("quit", "-p", str(node.prefix), "--timeout", "1")
    assert quitting.returncode == 0, quitting.stderr
    assert quitting.stdout.strip() == "Timeout, Gantry stopped forcefully"
    assert time.monotonic() - began < 6
    assert not pidfile.is_alive(pid)
    wait_for(lambda: not any(pidfile.is_alive(w) for w in workers), timeout=5)
    conn.close()
    assert cli("health", "-p", str(node.prefix)).returncode == 1


def test_reload_under_load_drops_nothing(node: Gateway, upstream: ScriptedUpstream) -> None:
    assert cli("start", "-c", str(node.conf_path)).returncode == 0
    pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    assert get(node.port, "/b") == 404
    with Load(node.port, "/a", clients=4) as load:
        wait_for(lambda: load.ok > 50, timeout=10)
        node.yml_path.write_text(textwrap.dedent(YML_B.format(port=upstream.port)))
        node.conf_path.write_text(node.conf_path.read_text().replace("log_level = notice", "log_level = info"))
        reloaded = cli("reload", "-c", str(node.conf_path))
        assert reloaded.returncode == 0, reloaded.stderr
        assert reloaded.stdout.strip() == "Gantry reloaded"
        wait_for(lambda: get(node.port, "/b") == 200, timeout=10)
        # a broken file is refused by the command; the node keeps what it serves
        node.yml_path.write_text("_format_version: '3.0'\nservices: [{name: x}]\n")
        refused = cli("reload", "-c", str(node.conf_path))
        assert refused.returncode == 1
        assert refused.stderr.startswith("Error: declarative_config")
        ok_before = load.ok
        wait_for(lambda: load.ok > ok_before + 50, timeout=10)
    assert load.failures == []
    assert pidfile.running_pid(str(node.prefix)) == pid  # the same supervisor
    assert get(node.port, "/b") == 200
    log = (node.prefix / "logs" / "error.log").read_text()
    assert "reload: log_level is now info" in log


def test_restart_and_version(node: Gateway) -> None:
    assert cli("start", "-c", str(node.conf_path)).returncode == 0
    pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    restarted = cli("restart", "-c", str(node.conf_path))
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.strip() == "Gantry started"
    assert not pidfile.is_alive(pid)
    new_pid = int((node.prefix / "pids" / "nginx.pid").read_text())
    assert new_pid != pid
    assert get(node.port, "/a") == 200
    assert cli("version").stdout.strip() == __version__
    everything = cli("version", "--all").stdout
    assert f"Gantry: {__version__}" in everything and "Python: " in everything
    assert cli("stop", "-p", str(node.prefix)).returncode == 0
