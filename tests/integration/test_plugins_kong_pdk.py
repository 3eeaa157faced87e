"""Plugins written for Kong's Python PDK (kong-pdk), unmodified, through the real `dataplane run`
(2 workers) in front of an echo upstream: found through pluginserver_names as Kong finds them
(a plugins directory of Kong 3.0-3.8's multi-plugin server, and a plugin file run as its own
server as in Kong 3.9), run in the workers, and no plugin server ever started."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.paths import DATAPLANE, ROOT
from tests.support.ports import free_port
from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

PLUGIN_SERVER = ROOT / ".venv" / "bin" / "kong-python-pluginserver"

# Kong's example plugin (kong-python-pdk examples/py-hello.py) in behaviour: in access, a
# response header greeting the Host the client sent, and one with the serving process's pid.
PY_HELLO = """
    #!/usr/bin/env python3
    import os

    import kong_pdk.pdk.kong as kong

    Schema = ({"message": {"type": "string"}},)
    version = "0.1.0"
    priority = 0


    class Plugin(object):
        def __init__(self, config):
            self.config = config

        def access(self, kong: kong.kong):
            host, err = kong.request.get_header("host")
            if err:
                kong.log.err(err)
            greeting = self.config.get("message") or "hello"
            kong.response.set_header("x-hello-from-python", "Python says %s to %s" % (greeting, host))
            kong.response.set_header("x-python-pid", str(os.getpid()))


    if __name__ == "__main__":
        from kong_pdk.cli import start_dedicated_server

        start_dedicated_server("py-hello", Plugin, version, priority, Schema)
"""

# Ends the request when the client asks for it, in Lua style (every call returns (value, err)).
PY_EXIT = """
    Schema = ({"status": {"type": "integer", "default": 403}},)
    version = "1.0.0"
    priority = 100


    class Plugin:
        def __init__(self, config):
            self.status = config["status"]

        def access(self, kong):
            reason, err = kong.request.get_header("x-block")
            if err or not reason:
                return
            return kong.response.exit(self.status, {"message": "blocked: " + reason}, {"X-Blocked-By": "py-exit"})
"""

# Two plugins sharing kong.ctx.shared across plugins and phases; the higher priority runs first.
PY_FIRST = """
    version = "1.0.0"
    priority = 20


    class Plugin:
        def __init__(self, config):
            pass

        def access(self, kong):
            order, _ = kong.ctx.shared.get("order")
            kong.ctx.shared.set("order", (order or []) + ["py-first"])
            method, _ = kong.request.get_method()
            kong.ctx.shared.set("seen", method + " " + kong.request.get_path()[0])
            kong.service.request.set_header("x-from-python", "set by py-first")
"""

PY_SECOND = """
    import json

    Schema = ({"log_file": {"type": "string", "required": True}},)
    version = "1.0.0"
    priority = 10


    class Plugin:
        def __init__(self, config):
            self.log_file = config["log_file"]

        def access(self, kong):
            order, _ = kong.ctx.shared.get("order")
            order = (order or []) + ["py-second"]
            kong.ctx.shared.set("order", order)
            seen, _ = kong.ctx.shared.get("seen")
            kong.service.request.set_header("x-shared", seen)
            kong.service.request.set_header("x-order", ",".join(order))

        def log(self, kong):
            serialized, err = kong.log.serialize()
            status, _ = kong.response.get_status()
            seen, _ = kong.ctx.shared.get("seen")
            entry = {"type": type(serialized).__name__, "status": status, "seen": seen, "err": err,
                     "uri": json.loads(serialized)["request"]["uri"]}
            with open(self.log_file, "a") as out:
                out.write(json.dumps(entry) + "\\n")
"""

# Its own server's script (Kong 3.9), named by start_dedicated_server and run with
# --no-lua-style: calls return values and raise kong_pdk's PDKException.
PY_SOLO = """
    from kong_pdk.exception import PDKException

    version = "2.0.0"
    priority = 5


    class Plugin:
        def __init__(self, config):
            pass

        def access(self, kong):
            kong.response.set_header("x-solo-host", kong.request.get_header("host"))
            try:
                kong.nginx.get_var("no_such_variable")
            except PDKException as err:
                kong.response.set_header("x-solo-caught", type(err).__name__ + ": " + str(err))


    if __name__ == "__main__":
        from kong_pdk.cli import start_dedicated_server

        start_dedicated_server("py-solo", Plugin, version, priority, [])
"""


def config(port: int, log_file: Path) -> str:
    return f"""
    _format_version: "3.0"
    services:
      - name: echo
        url: http://127.0.0.1:{port}
        routes:
          - name: hello
            paths: ["/hello"]
            plugins:
              - name: py-hello
                config: {{message: hello}}
          - name: exit
            paths: ["/exit"]
            plugins:
              - name: py-exit
          - name: ctx
            paths: ["/ctx"]
            plugins:
              - name: py-second
                config: {{log_file: {log_file}}}
              - name: py-first
          - name: solo
            paths: ["/solo"]
            plugins:
              - name: py-solo
          - name: plain
            paths: ["/plain"]
    """


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip())
    return path


@pytest.fixture(scope="module")
def plugin_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kong-pdk")
    directory = root / "plugins"
    directory.mkdir()
    for name, source in (
        ("py-hello", PY_HELLO),
        ("py-exit", PY_EXIT),
        ("py-first", PY_FIRST),
        ("py-second", PY_SECOND),
    ):
        write(directory / f"{name}.py", source)
    write(directory / "not-listed.py", "raise SystemExit('never imported: not in plugins')\n")
    (root / "solo").mkdir()
    write(root / "solo" / "solo_plugin.py", PY_SOLO)
    (root / "sockets").mkdir()  # where either plugin server would put its socket
    return root


def pluginserver_conf(root: Path, plugins: str) -> dict[str, str]:
    sockets = root / "sockets"
    return {
        "plugins": plugins,
        "pluginserver_names": "python,solo",
        "pluginserver_python_start_cmd": f"{PLUGIN_SERVER} -d {root / 'plugins'} -p {sockets}",
        "pluginserver_python_query_cmd": f"{PLUGIN_SERVER} -d {root / 'plugins'} --dump-all-plugins",
        "pluginserver_solo_start_cmd": f"python3 {root / 'solo' / 'solo_plugin.py'} -p {sockets} --no-lua-style",
        "pluginserver_solo_query_cmd": f"python3 {root / 'solo' / 'solo_plugin.py'} --dump",
        "pluginserver_solo_socket": str(sockets / "py-solo.sock"),
    }


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream, plugin_files):
    conf = pluginserver_conf(plugin_files, "bundled,py-hello,py-exit,py-first,py-second,py-solo")
    return module_gateway_factory(config(module_upstream.port, plugin_files / "log.jsonl"), name="kong-pdk", conf=conf)


def get(gw, path: str, *headers: str, host: str = "example.com"):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())


def test_kongs_py_hello_greets_the_host_from_a_worker(gw):
    pids = set()
    for _ in range(8):
        response = get(gw, "/hello", host="gantry.test")
        assert response.status == 200
        assert response.header("x-hello-from-python") == "Python says hello to gantry.test"
        pids.add(int(response.header("x-python-pid")))
    assert pids <= set(gw.worker_pids())  # in the workers themselves, no plugin server


def test_kong_response_exit_ends_the_request_with_its_body_and_headers(gw):
    before = get(gw, "/exit")
    assert before.status == 200 and before.header("X-Blocked-By") is None
    blocked = get(gw, "/exit", "X-Block: no entry")
    assert blocked.status == 403
    assert blocked.json() == {"message": "blocked: no entry"}
    assert blocked.header("X-Blocked-By") == "py-exit"
    assert blocked.header("Content-Type") == "application/json; charset=utf-8"
    assert blocked.header("X-Kong-Response-Latency") is not None and blocked.header("Via") is None


def test_ctx_shared_and_priority_order_across_two_plugins(gw):
    response = get(gw, "/ctx/some/where?x=1")
    assert response.status == 200
    echoed = response.echoed_headers()
    assert echoed["x-from-python"] == ["set by py-first"]  # kong.service.request.set_header
    assert echoed["x-shared"] == ["GET /ctx/some/where"]  # what py-first left in kong.ctx.shared
    assert echoed["x-order"] == ["py-first,py-second"]  # priority 20 before 10


def test_the_log_phase_runs_after_the_response_with_the_requests_context(gw, plugin_files):
    log_file = plugin_files / "log.jsonl"
    assert get(gw, "/ctx/logged").status == 200

    def logged() -> list[dict]:
        lines = log_file.read_text().splitlines() if log_file.exists() else []
        return [entry for entry in map(json.loads, lines) if entry["uri"] == "/ctx/logged"]

    (entry,) = wait_for(logged, timeout=10, message="the log phase's line")
    # kong.log.serialize() hands kong-pdk plugins a JSON string, as Kong's plugin server does
    assert entry == {"type": "str", "status": 200, "seen": "GET /ctx/logged", "err": None, "uri": "/ctx/logged"}


def test_a_dedicated_plugin_file_without_lua_style_raises_pdk_exception(gw):
    response = get(gw, "/solo", host="solo.test")
    assert response.status == 200
    assert response.header("x-solo-host") == "solo.test"  # a value, not (value, err)
    assert response.header("x-solo-caught") == "PDKError: variable 'no_such_variable' is not available"


def test_routes_without_them_are_untouched(gw):
    response = get(gw, "/plain")
    assert response.status == 200
    assert response.header("x-hello-from-python") is None and "x-from-python" not in response.echoed_headers()


def test_no_plugin_server_is_ever_started(gw, plugin_files):
    get(gw, "/hello")
    get(gw, "/solo")
    assert list((plugin_files / "sockets").iterdir()) == []
    assert "never imported" not in gw.stderr() + gw.error_log()


def broken_conf(tmp_path: Path) -> Path:
    plugin = write(
        tmp_path / "py-broken.py",
        """
        import os

        import a_module_nobody_installed

        class Plugin:
            pass
    """,
    )
    conf = tmp_path / "kong.conf"
    conf.write_text(
        "\n".join(
            [
                f"prefix = {tmp_path / 'prefix'}",
                "database = off",
                f"proxy_listen = 127.0.0.1:{free_port()}",
                "plugins = bundled,py-broken",
                "pluginserver_names = broken",
                f"pluginserver_broken_start_cmd = {plugin}",
            ]
        )
        + "\n"
    )
    return conf


def test_a_plugin_file_that_fails_to_import_stops_check_and_run(tmp_path):
    conf = broken_conf(tmp_path)
    expected = (
        f"Error: kong-pdk plugin 'py-broken' ({tmp_path / 'py-broken.py'}:3): import failed: "
        "ModuleNotFoundError: No module named 'a_module_nobody_installed'"
    )
    for command in (["check", str(conf)], ["run", "-c", str(conf)]):
        done = subprocess.run([str(DATAPLANE), *command], cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert done.returncode == 1, command
        assert done.stderr.strip() == expected, command


def test_dataplane_check_accepts_a_config_using_them(gw, plugin_files):
    done = subprocess.run(
        [str(DATAPLANE), "check", str(gw.conf_path)], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
