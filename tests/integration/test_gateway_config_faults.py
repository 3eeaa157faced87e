"""Faults around configuration and process life, through the real `dataplane run`: an LMDB map
too small for a reload, the supervisor killed with SIGKILL, readiness before any configuration and
while a worker cannot listen, and the /status counters."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import pytest

from tests.support.configs import config
from tests.support.raw_client import RawConnection
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


def big_config(port: int, services: int = 1500) -> str:
    """About 1.5 MB of entities once stored: more than a 1 MiB LMDB map can hold."""
    lines = ['_format_version: "3.0"', "services:"]
    lines += [f"  - name: api\n    url: http://127.0.0.1:{port}\n    routes:\n      - name: api-route\n"
              f'        paths: ["/api"]']
    padding = "t" * 200
    for i in range(services):
        lines += [f"  - name: svc{i}", f"    url: http://127.0.0.1:{port}/s{i}", f'    tags: ["{padding}{i}"]',
                  "    routes:", f"      - name: r{i}", f'        paths: ["/p{i}"]']
    return "\n".join(lines) + "\n"


def wait_log(gw, text: str, timeout: float = 15.0) -> str:
    return wait_for(lambda: text in gw.error_log() and gw.error_log(), timeout, message=f"{text!r} in the error log")


def bytes_read(pid: int) -> int:
    """What a process has read so far, files and sockets alike (rchar in /proc/<pid>/io)."""
    with open(f"/proc/{pid}/io") as file:
        return next(int(line.split()[1]) for line in file if line.startswith("rchar:"))


def alive(pid: int) -> bool:
    """Running (a zombie left behind by a parent that does not reap counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except FileNotFoundError:
        return False
    return True


def test_reload_too_big_for_lmdb_map_size_keeps_the_old_config(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port), conf={"lmdb_map_size": "1m"})
    first = gw.status()[1]
    assert gw.request("GET", "/api/x")[0] == 200

    gw.yml_path.write_text(big_config(upstream.port))
    gw.proc.send_signal(signal.SIGHUP)
    log = wait_log(gw, "reload of", timeout=30)
    line = next(line for line in log.splitlines() if "reload of" in line)
    assert "[error]" in line and "lmdb_map_size" in line and "keeping configuration version 1" in line

    now = gw.status()[1]
    assert now["configuration_version"] == 1
    assert now["configuration_hash"] == first["configuration_hash"]
    assert gw.status("/status/ready")[0] == 200
    for _ in range(10):
        assert gw.request("GET", "/api/x")[0] == 200
    assert gw.request("GET", "/p1/x")[0] == 404

    # A config that fits is applied afterwards: the failed write left the store usable.
    gw.reload(config(upstream.port, path="/v2", name="v2"))
    gw.wait_version(2)
    assert gw.request("GET", "/v2/x")[0] == 200
    assert gw.request("GET", "/api/x")[0] == 404


def test_killed_supervisor_takes_its_workers_down_and_a_restart_serves(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    workers = gw.worker_pids()
    assert len(workers) == 2 and all(workers)
    # an idle keep-alive client must not keep a worker alive forever
    idle = RawConnection(gw.port)
    idle.send(b"GET /api/idle HTTP/1.1\r\nHost: a\r\n\r\n")
    assert idle.read_one().status == 200

    os.kill(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(10)
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=20,
             message=f"workers {workers} to exit after their supervisor was killed")
    assert "supervisor exited, worker stopping" in gw.error_log()
    assert idle.closed(5)
    idle.close()

    gw.start()  # same prefix, same conf, same LMDB cache
    assert set(gw.worker_pids()).isdisjoint(workers)
    for _ in range(10):
        assert gw.request("GET", "/api/again")[0] == 200
    assert gw.status()[1]["configuration_version"] >= 1


def test_not_ready_without_any_configuration(gateway_factory, upstream):
    gw = gateway_factory(None, wait=False)  # no declarative_config, empty prefix, nothing cached
    wait_for(lambda: gw.status_answers() and all(gw.worker_pids()), timeout=20,
             message="both workers listening (a worker's pid is published once it listens)")
    code, body = gw.status("/status/ready")
    assert (code, body) == (503, {"message": "no configuration available (empty configuration present)"})
    status = gw.status()[1]
    assert status["configuration_version"] == 1  # the empty config is stored, and served
    # the proxy answers with Kong's 404 for an empty config
    assert gw.request("GET", "/anything", headers={"Accept": "application/json"})[0] == 404


def test_status_counters_move_with_traffic(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    server = gw.status()[1]["server"]
    assert server["connections_active"] == 0
    total = server["total_requests"]

    for _ in range(5):
        assert gw.request("GET", "/api/count")[0] == 200
    assert gw.request("GET", "/not-routed")[0] == 404  # counted too
    wait_for(lambda: gw.status()[1]["server"]["total_requests"] == total + 6, timeout=5,
             message="total_requests + 6")

    conns = [RawConnection(gw.port) for _ in range(3)]
    try:
        for conn in conns:
            conn.send(b"GET /api/held HTTP/1.1\r\nHost: a\r\n\r\n")
            assert conn.read_one().status == 200
        wait_for(lambda: gw.status()[1]["server"]["connections_active"] == 3, timeout=5,
                 message="3 active connections")
        accepted = gw.status()[1]["server"]["connections_accepted"]
        assert accepted >= 9
    finally:
        for conn in conns:
            conn.close()
    wait_for(lambda: gw.status()[1]["server"]["connections_active"] == 0, timeout=5,
             message="no active connection after the clients closed")
    assert gw.status()[1]["server"]["total_requests"] == total + 9


# -- readiness needs every worker listening ---------------------------------------------------------

# Loaded by every Python process started with this directory on PYTHONPATH; acts only in the
# worker of the slot named by GANTRY_TEST_FAULT_SLOT, between loading the config and listening.
SITECUSTOMIZE = '''
import os

_mode = os.environ.get("GANTRY_TEST_WORKER_FAULT")
if _mode:
    with open("/proc/self/cmdline", "rb") as _file:
        _argv = _file.read().split(b"\\0")
    if b"dataplane.worker" in _argv and _argv[_argv.index(b"--slot") + 1] == os.environ["GANTRY_TEST_FAULT_SLOT"].encode():
        import dataplane.proxy

        def _fault(*args, **kwargs):
            if _mode == "hang":
                import time
                time.sleep(3600)  # the fault itself: a worker that never gets to listen
            raise RuntimeError("injected fault: worker dies before listening")

        dataplane.proxy.make_protocol_factory = _fault
'''


def _fault_env(tmp_path, mode: str) -> dict[str, str]:
    directory = tmp_path / f"fault-{mode}"
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    path = os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "GANTRY_TEST_WORKER_FAULT": mode, "GANTRY_TEST_FAULT_SLOT": "1"}


def test_not_ready_while_a_worker_has_its_config_but_no_listener(gateway_factory, upstream, tmp_path):
    gw = gateway_factory(config(upstream.port), wait=False, env=_fault_env(tmp_path, "hang"))
    # worker 1 has loaded version 1 (it says so in its slot), then hangs before listening
    wait_for(lambda: gw.status_answers() and all(w["configuration_version"] == 1 for w in gw.status()[1]["workers"]),
             timeout=20, message="both workers to load configuration version 1")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        code, body = gw.status("/status/ready")
        assert code == 503, body
        assert body == {"message": "1 of 2 workers not yet serving configuration version 1"}
        time.sleep(0.05)  # polls spread over the second the test watches readiness stay off
    workers = gw.status()[1]["workers"]
    assert workers[0]["pid"] != 0 and workers[1]["pid"] == 0  # published once listening, not before


def test_not_ready_while_a_worker_crash_loops(gateway_factory, upstream, tmp_path):
    gw = gateway_factory(config(upstream.port), wait=False, env=_fault_env(tmp_path, "crash"))
    wait_for(lambda: gw.error_log().count("injected fault") >= 1 or gw.stderr().count("injected fault") >= 1,
             timeout=20, message="the first injected crash")
    seen = set()
    deadline = time.monotonic() + 2.5  # long enough for two restarts (1 s back-off each)
    while time.monotonic() < deadline:
        code, body = gw.status("/status/ready")
        seen.add(code)
        assert code == 503, body
        time.sleep(0.01)  # polls spread over the restarts the test watches
    assert gw.error_log().count("exited with code 1; starting a new one") >= 2
    assert seen == {503}


def test_sighups_in_quick_succession_end_on_the_latest_file(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    # first reload: a file that takes a while to parse; the second, sent while the first is still
    # parsing, names a small file. Whatever the order they finish in, the latest file must win.
    gw.yml_path.write_text(big_config(upstream.port))
    size, before = gw.yml_path.stat().st_size, bytes_read(gw.proc.pid)
    gw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: bytes_read(gw.proc.pid) - before >= size, message="the supervisor reading the big file")
    gw.reload(config(upstream.port, path="/latest", name="latest"))
    wait_for(lambda: gw.request("GET", "/latest/x")[0] == 200, timeout=30, message="the latest file served")
    # both reloads applied, whichever order they finished in (1 is the start's version): the
    # slow first one has had its chance to do harm
    wait_for(lambda: gw.status()[1]["configuration_version"] >= 3, timeout=30, message="both reloads applied")
    # ready again once every worker serves the last version (the supervisor's version counts first)
    wait_for(lambda: gw.status("/status/ready")[0] == 200, timeout=30, message="every worker on the last version")
    assert gw.request("GET", "/latest/x")[0] == 200
    assert gw.request("GET", "/p1/x")[0] == 404, "the older file was applied after the newer one"


def test_start_with_a_config_too_big_for_lmdb_map_size_fails_with_the_reason(gateway_factory, upstream):
    gw = gateway_factory(big_config(upstream.port), conf={"lmdb_map_size": "1m"}, wait=False)
    assert gw.proc.wait(60) == 1
    text = gw.stderr()
    assert "lmdb_map_size" in text and "Traceback" not in text
