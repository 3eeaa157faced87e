"""The data plane as users run it: `dataplane run` with 2 workers in front of real upstreams."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest

from tests.support.configs import config
from tests.support.load import Load
from tests.support.paths import DATAPLANE, ROOT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


def test_proxies_and_reports_status(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    status, _, body = gw.request("GET", "/api/hello?x=1")
    assert status == 200, body
    code, info = gw.status()
    assert code == 200
    assert len(info["configuration_hash"]) == 32
    assert info["server"]["total_requests"] >= 1
    assert len({w["pid"] for w in info["workers"]}) == 2
    assert gw.status("/status/ready") == (200, {"message": "ready"})
    assert gw.request("GET", "/elsewhere")[0] == 404


def test_sighup_applies_new_file_and_rejects_broken_one(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    first_hash = gw.status()[1]["configuration_hash"]
    gw.reload(config(upstream.port, path="/v2", name="v2"))
    gw.wait_version(2)
    assert gw.request("GET", "/v2/x")[0] == 200
    assert gw.request("GET", "/api/x")[0] == 404
    second_hash = gw.status()[1]["configuration_hash"]
    assert second_hash != first_hash

    gw.reload('_format_version: "3.0"\nservices:\n  - name: broken\n    port: 99999\n')
    wait_for(lambda: "reload of" in gw.error_log(), message="the failed reload in the error log")
    assert "keeping configuration version 2" in gw.error_log()
    assert gw.status()[1]["configuration_hash"] == second_hash
    assert gw.request("GET", "/v2/x")[0] == 200


def test_sighup_under_load_drops_nothing(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    with Load(gw.port, "/api/load") as load:

        def served_more() -> None:
            """Requests go on between reloads: each reload lands in the middle of the load."""
            before = load.ok
            wait_for(lambda: load.ok >= before + 20, message="20 more requests served")

        for i in range(5):
            served_more()
            # Same route, a new service name each time: a real new version every reload.
            gw.reload(config(upstream.port, name=f"api{i}"))
            gw.wait_version(i + 2)
        served_more()
    assert load.failures == []
    assert load.ok > 50


def test_killed_worker_is_restarted(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    pids = gw.worker_pids()
    os.kill(pids[0], signal.SIGKILL)

    def restarted() -> bool:
        now = gw.worker_pids()
        return pids[0] not in now and all(now) and gw.status("/status/ready")[0] == 200

    wait_for(restarted, interval=0.05, message="the killed worker replaced and the gateway ready")
    assert pids[1] in gw.worker_pids()
    assert "exited on signal 9" in gw.error_log()
    for _ in range(20):
        assert gw.request("GET", "/api/after")[0] == 200


def test_sigterm_drains_in_flight_requests(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    result: dict = {}
    # A route for the slow path.
    gw.reload(config(upstream.port, path="/delay", name="slow"))
    gw.wait_version(2)
    before = upstream.stats()["requests"]
    thread = threading.Thread(target=lambda: result.setdefault("r", gw.request("GET", "/delay/1500", timeout=10)))
    thread.start()
    wait_for(lambda: upstream.stats()["requests"] > before, message="the slow request at the upstream")
    code = gw.stop(signal.SIGTERM)
    thread.join(10)
    assert result["r"][0] == 200
    assert code == 0


def test_restart_without_declarative_file_serves_lmdb_cache(gateway_factory, upstream, tmp_path):
    gw = gateway_factory(config(upstream.port))
    assert gw.stop() == 0
    conf = gw.conf_path.read_text().replace(f"declarative_config = {gw.yml_path}\n", "")
    gw.conf_path.write_text(conf)
    gw.yml_path.unlink()
    gw.start()
    assert gw.request("GET", "/api/cached")[0] == 200


def test_invalid_declarative_file_fails_start_with_reasons(gateway_factory, upstream):
    yml = '_format_version: "3.0"\nservices:\n  - name: bad\n    host: 127.0.0.1\n    port: 70000\n'
    gw = gateway_factory(yml, wait=False)
    assert gw.proc.wait(20) == 1
    text = gw.stderr()
    assert "port" in text and "Traceback" not in text


def test_access_and_error_logs_under_prefix(gateway_factory, upstream):
    gw = gateway_factory(config(upstream.port))
    gw.request("GET", "/api/logged", headers={"User-Agent": "log-test"})
    gw.stop()
    access = (gw.prefix / "logs" / "access.log").read_text()
    assert '"GET /api/logged HTTP/1.1" 200' in access and "log-test" in access
    assert "start worker process" in gw.error_log()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DATAPLANE), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_cli_config_parse_and_check(tmp_path):
    good = tmp_path / "kong.yml"
    good.write_text(config(8080))
    result = run_cli("config", "parse", str(good))
    assert result.returncode == 0 and "services: 1" in result.stdout and "routes: 1" in result.stdout

    bad = tmp_path / "bad.yml"
    bad.write_text('_format_version: "3.0"\nservices:\n  - name: x\n    port: 0x\n  - name: y\n    url: nope\n')
    result = run_cli("config", "parse", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr

    conf = tmp_path / "kong.conf"
    conf.write_text(f"database = off\ndeclarative_config = {good}\n")
    assert run_cli("check", str(conf)).returncode == 0
    conf.write_text("proxy_listen = 127.0.0.1:99999\n")
    result = run_cli("check", str(conf))
    assert result.returncode == 1 and "proxy_listen" in result.stderr and "Traceback" not in result.stderr
    conf.write_text(f"database = off\ndeclarative_config = {bad}\n")
    assert run_cli("check", str(conf)).returncode == 1


NOT_ENABLED = "plugin '{}' not enabled; add it to the 'plugins' configuration property"


def with_route_plugin(yml: str, name: str) -> str:
    """`config(...)` with plugin `name` on its route."""
    return yml.rstrip() + f"\n            plugins:\n              - name: {name}\n"


def test_cli_refuses_a_plugin_the_node_does_not_run(tmp_path):
    yml = tmp_path / "kong.yml"
    yml.write_text(with_route_plugin(config(8080), "datadog"))
    result = run_cli("config", "parse", str(yml))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"plugin 'datadog' (services[1].routes[1].plugins[1]): name: {NOT_ENABLED.format('datadog')}" \
        in result.stderr

    # `dataplane check` judges by the conf's plugins: cors is bundled, but not named here
    yml.write_text(with_route_plugin(config(8080), "cors"))
    conf = tmp_path / "kong.conf"
    conf.write_text(f"database = off\ndeclarative_config = {yml}\nplugins = key-auth\n")
    result = run_cli("check", str(conf))
    assert result.returncode == 1 and NOT_ENABLED.format("cors") in result.stderr
    conf.write_text(f"database = off\ndeclarative_config = {yml}\nplugins = key-auth,cors\n")
    assert run_cli("check", str(conf)).returncode == 0


def test_db_less_start_and_reload_refuse_a_plugin_the_node_does_not_run(gateway_factory, upstream):
    refused = gateway_factory(with_route_plugin(config(upstream.port), "aws-lambda"), wait=False, name="refused")
    assert refused.proc.wait(20) == 1
    assert NOT_ENABLED.format("aws-lambda") in refused.error_log() + refused.stderr()

    gw = gateway_factory(with_route_plugin(config(upstream.port), "key-auth"))
    assert gw.request("GET", "/api/x")[0] == 401
    served = gw.status()[1]["configuration_hash"]
    gw.reload(with_route_plugin(config(upstream.port), "acme"))
    wait_for(lambda: "reload of" in gw.error_log(), message="the failed reload in the error log")
    assert "keeping configuration version 1" in gw.error_log() and NOT_ENABLED.format("acme") in gw.error_log()
    assert gw.status()[1]["configuration_hash"] == served
    assert gw.request("GET", "/api/x")[0] == 401  # still guarded by the old config


def test_db_less_restart_without_a_plugin_its_cache_uses_does_not_start(gateway_factory, upstream):
    gw = gateway_factory(with_route_plugin(config(upstream.port), "key-auth"))
    assert gw.request("GET", "/api/x")[0] == 401
    assert gw.stop() == 0
    conf = gw.conf_path.read_text().replace(f"declarative_config = {gw.yml_path}\n", "")
    gw.conf_path.write_text(conf + "plugins = cors\n")
    gw.start(wait=False)
    assert gw.proc.wait(20) == 1
    assert ("the configuration cached in LMDB (version 1) has plugins this node does not run: key-auth; "
            "add them to the 'plugins' configuration property") in gw.error_log()
