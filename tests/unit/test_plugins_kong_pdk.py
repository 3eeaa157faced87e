"""kong-pdk plugins found as Kong finds them: the pluginserver_* keys, the start commands Kong
would run (read, never run) and the plugin files they name."""

from __future__ import annotations

import os
import textwrap

import pytest

import dataplane.proxy  # noqa: F401  (the PDK is imported through the proxy, which it uses)
from dataplane.conf import ConfError, load_conf
from dataplane.pdk import PDKError
from dataplane.plugins import PluginError, load_registry
from dataplane.plugins.kong_pdk import (
    dedicated_name,
    discover,
    kong_pdk_specs,
    load_kong_pdk_plugins,
    parse_start_cmd,
)

SERVER = "/usr/local/bin/kong-python-pluginserver"

HELLO = """
Schema = ({"message": {"type": "string", "default": "hello"}},)
version = "1.2.3"
priority = 7

class Plugin:
    def __init__(self, config):
        self.config = config

    def access(self, kong):
        kong.response.set_header("x-hello", self.config["message"])

    def header_filter(self, kong):
        raise AssertionError("not a kong-pdk phase")
"""


DEDICATED = """
if __name__ == "__main__":
    from kong_pdk.cli import start_dedicated_server
    start_dedicated_server("py-hello", Plugin, version, priority, Schema)
"""


def write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize(
    "argv",
    [
        [SERVER, "-d", "/srv/plugins"],
        [SERVER, "-d/srv/plugins"],
        [SERVER, "-d=/srv/plugins"],
        [SERVER, "--plugins-directory", "/srv/plugins"],
        [SERVER, "--plugins-directory=/srv/plugins"],
        [SERVER, "-plugins-directory", "/srv/plugins"],
        [
            "kong-python-pluginserver",
            "-v",
            "-vv",
            "-p",
            "/usr/local/kong",
            "--socket-name",
            "py.sock",
            "-g",
            "--listen-queue-size=10",
            "-d",
            "/srv/plugins",
            "--dump-all-plugins",
        ],
    ],
)
def test_the_multi_plugin_server_names_a_directory(argv):
    command = parse_start_cmd("py", argv)
    assert (command.directory, command.file, command.lua_style) == ("/srv/plugins", None, True)


def test_no_lua_style_is_honoured_in_both_forms(tmp_path):
    assert parse_start_cmd("py", [SERVER, "--no-lua-style", "-d", "/srv"]).lua_style is False
    plugin = write(tmp_path / "p.py", HELLO)
    assert parse_start_cmd("p", [plugin, "--no-lua-style"]).lua_style is False
    assert parse_start_cmd("p", [plugin, "-p", "/tmp", "--socket-name", "p.sock"]).lua_style is True


def test_a_relative_directory_is_taken_from_the_working_directory():
    assert parse_start_cmd("py", [SERVER, "-d", "plugins"]).directory == os.path.abspath("plugins")


@pytest.mark.parametrize(
    "prefix",
    [[], ["python3"], ["/usr/bin/python3.11", "-u", "-X", "dev"], ["python"]],
)
def test_a_dedicated_server_is_its_plugin_file(tmp_path, prefix):
    plugin = write(tmp_path / "py-hello.py", HELLO)
    command = parse_start_cmd("py-hello", [*prefix, plugin, "-v"])
    assert (command.directory, command.file) == (None, plugin)


def test_an_executable_with_a_python_line_is_a_plugin_file(tmp_path):
    script = tmp_path / "py-hello"
    script.write_text("#!/usr/bin/env python3\n" + textwrap.dedent(HELLO))
    assert parse_start_cmd("py-hello", [str(script)]).file == str(script)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/usr/local/bin/go-hello"], "neither kong-python-pluginserver nor a Python plugin file"),
        (["/usr/local/bin/kong-js-pluginserver", "-d", "/srv"], "neither"),
        ([SERVER], "needs -d/--plugins-directory"),
        ([SERVER, "-d"], "-d needs a directory"),
        ([SERVER, "-d", "/srv", "--gevnet"], "unknown argument '--gevnet'"),
        ([SERVER, "-d", "/srv", "extra"], "unknown argument 'extra'"),
        (["python3", "-m", "plugin"], "'python -m' start commands are not read"),
        (["python3"], "names no Python file"),
    ],
)
def test_other_commands_are_refused_with_the_reason(argv, message):
    with pytest.raises(PluginError, match="pluginserver 'x': ") as err:
        parse_start_cmd("x", argv)
    assert message in str(err.value)


def test_a_dedicated_plugin_is_named_as_it_names_itself(tmp_path):
    named = write(tmp_path / "hello_plugin.py", HELLO + DEDICATED)
    assert dedicated_name(named) == "py-hello"
    assert dedicated_name(write(tmp_path / "plain.py", HELLO)) == "plain"
    assert dedicated_name(write(tmp_path / "broken.py", "def (")) == "broken"


def conf(tmp_path, **settings: str):
    return load_conf(None, env={}, overrides={"prefix": str(tmp_path / "prefix"), **settings})


def test_conf_reads_each_servers_keys_by_its_name(tmp_path):
    loaded = load_conf(
        None,
        env={
            "KONG_PLUGINSERVER_NAMES": "Py-Hello, other",
            "KONG_PLUGINSERVER_PY_HELLO_START_CMD": f"{SERVER} -d '/srv/my plugins' --no-lua-style",
            "KONG_PLUGINSERVER_PY_HELLO_QUERY_CMD": f"{SERVER} -d /srv --dump-all-plugins",
            "KONG_PLUGINSERVER_OTHER_SOCKET": "/run/other.sock",
        },
        overrides={"prefix": str(tmp_path)},
    )
    hello, other = loaded.pluginserver_names
    assert hello.name == "py-hello" and hello.start_cmd == (SERVER, "-d", "/srv/my plugins", "--no-lua-style")
    assert hello.query_cmd == (SERVER, "-d", "/srv", "--dump-all-plugins")
    assert hello.socket == os.path.join(str(tmp_path), "py-hello.socket")
    assert hello.start_cmd_source == "KONG_PLUGINSERVER_PY_HELLO_START_CMD"
    # unset, and Kong's default /usr/local/bin/other is not there
    assert other.start_cmd is None and other.socket == "/run/other.sock"


def test_conf_refuses_a_start_command_a_shell_could_not_split(tmp_path):
    with pytest.raises(ConfError) as err:
        conf(tmp_path, pluginserver_names="py", pluginserver_py_start_cmd="kong-python-pluginserver -d '/srv")
    assert err.value.errors == [
        "override: pluginserver_py_start_cmd: cannot be split into a command line (No closing quotation)"
    ]
    with pytest.raises(ConfError, match="a name is listed twice"):
        conf(tmp_path, pluginserver_names="py, PY")


def test_no_pluginserver_means_no_kong_pdk_plugin(tmp_path):
    assert conf(tmp_path).pluginserver_names == ()
    assert kong_pdk_specs(conf(tmp_path)) == []


def test_a_server_without_a_start_command_stops_the_node(tmp_path):
    with pytest.raises(PluginError, match="pluginserver 'py': no start command"):
        kong_pdk_specs(conf(tmp_path, pluginserver_names="py", plugins="bundled,py-hello"))


def test_a_directory_gives_every_py_file_named_by_its_file(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write(plugins / "py-hello.py", HELLO)
    write(plugins / "other.py", HELLO)
    (plugins / "notes.txt").write_text("not a plugin")
    loaded = conf(tmp_path, pluginserver_names="py", pluginserver_py_start_cmd=f"{SERVER} -d {plugins}")
    found = discover(loaded.pluginserver_names)
    assert sorted(found) == ["other", "py-hello"]
    assert found["py-hello"].path == str(plugins / "py-hello.py") and found["py-hello"].server == "py"


def test_the_first_server_naming_a_plugin_wins(tmp_path, caplog):
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        directory.mkdir()
        write(directory / "same.py", HELLO)
    loaded = conf(
        tmp_path,
        pluginserver_names="one,two",
        pluginserver_one_start_cmd=f"{SERVER} -d {first}",
        pluginserver_two_start_cmd=f"{SERVER} -d {second}",
    )
    assert discover(loaded.pluginserver_names)["same"].path == str(first / "same.py")
    assert "pluginserver 'one' has one of that name" in caplog.text


def test_a_missing_directory_or_file_stops_the_node(tmp_path):
    with pytest.raises(PluginError, match=r"plugins directory .*/nowhere: No such file or directory"):
        kong_pdk_specs(conf(tmp_path, pluginserver_names="py", pluginserver_py_start_cmd=f"{SERVER} -d nowhere"))
    with pytest.raises(PluginError, match=r"no plugin file .*/gone\.py"):
        kong_pdk_specs(conf(tmp_path, pluginserver_names="py", pluginserver_py_start_cmd=str(tmp_path / "gone.py")))


def test_only_the_plugins_named_in_plugins_are_loaded(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write(plugins / "py-hello.py", HELLO)
    write(plugins / "broken.py", "import not_a_module_anywhere\n")  # never imported: not in `plugins`
    settings = {"pluginserver_names": "py", "pluginserver_py_start_cmd": f"{SERVER} -d {plugins}"}
    specs = kong_pdk_specs(conf(tmp_path, plugins="bundled,py-hello", **settings))
    assert [spec.name for spec in specs] == ["py-hello"]
    spec = specs[0]
    assert (spec.version, spec.priority, spec.source, spec.lua_style) == ("1.2.3", 7, "kong-pdk", True)
    assert spec.phases == {"access"}  # header_filter is no kong-pdk phase
    assert spec.config.field_map()["message"].default == "hello"
    assert kong_pdk_specs(conf(tmp_path, plugins="bundled", **settings)) == []


def test_a_plugin_file_that_fails_to_import_names_the_file_and_the_error(tmp_path):
    plugin = write(
        tmp_path / "broken.py",
        """
        import os

        import not_a_module_anywhere
    """,
    )
    loaded = conf(
        tmp_path, pluginserver_names="broken", pluginserver_broken_start_cmd=f"python3 {plugin}", plugins="broken"
    )
    with pytest.raises(PluginError) as err:
        kong_pdk_specs(loaded)
    assert str(err.value) == (
        f"kong-pdk plugin 'broken' ({plugin}:4): import failed: "
        "ModuleNotFoundError: No module named 'not_a_module_anywhere'"
    )
    write(tmp_path / "broken.py", "class Plugin:\n    def access(self, kong)\n")
    with pytest.raises(PluginError, match=rf"\({plugin}:2\): import failed: SyntaxError"):
        kong_pdk_specs(loaded)


def test_phases_gantry_does_not_run_are_refused(tmp_path):
    plugin = write(
        tmp_path / "buffered.py",
        """
        class Plugin:
            def __init__(self, config):
                pass

            def certificate(self, kong):
                pass
    """,
    )
    with pytest.raises(PluginError, match="the certificate phase is not run by Gantry yet"):
        load_kong_pdk_plugins(
            conf(tmp_path, pluginserver_names="b", pluginserver_b_start_cmd=plugin).pluginserver_names, ["buffered"]
        )


def test_the_registry_takes_them_without_looking_for_a_module(tmp_path):
    plugin = write(tmp_path / "py-solo.py", HELLO)
    loaded = conf(tmp_path, pluginserver_names="solo", pluginserver_solo_start_cmd=plugin, plugins="bundled,py-solo")
    registry = load_registry(loaded.plugins, extra=kong_pdk_specs(loaded))
    assert "py-solo" in registry and "key-auth" in registry
    assert registry.get("py-solo").source == "kong-pdk"


def test_a_bundled_name_is_the_bundled_plugin(tmp_path):
    plugin = write(tmp_path / "key-auth.py", HELLO)
    loaded = conf(tmp_path, pluginserver_names="k", pluginserver_k_start_cmd=plugin, plugins="bundled,key-auth")
    assert kong_pdk_specs(loaded) == []


def test_pdk_errors_are_kong_pdk_exceptions():
    from kong_pdk.exception import PDKException

    assert issubclass(PDKError, PDKException)


def test_a_data_plane_takes_a_control_plane_config_using_them(tmp_path):
    import asyncio
    import gzip

    import orjson

    from dataplane.cluster.apply import ConfigApplier
    from dataplane.cluster.protocol import cluster_pb2
    from dataplane.declarative import config_hash, parse_text
    from dataplane.lmdb_cache import ConfigStore

    flat = parse_text(
        textwrap.dedent("""
        _format_version: "3.0"
        services:
          - name: s
            url: http://example.com
            plugins:
              - name: py-hello
        """),
        plugins=frozenset({"py-hello"}),
    )
    digest, hashes = config_hash(flat)
    payload = gzip.compress(orjson.dumps(flat))
    message = cluster_pb2.FullConfig(version=3, hash=digest, hashes=hashes, encoding="gzip+json", payload=payload)
    store = ConfigStore(str(tmp_path / "lmdb"), 16 << 20)
    try:
        refused = asyncio.run(ConfigApplier(store, lambda version, digest: None).full(message))
        assert not refused.applied and "plugin 'py-hello' not enabled" in refused.error
        applied = asyncio.run(ConfigApplier(store, lambda version, digest: None, frozenset({"py-hello"})).full(message))
        assert applied.applied and store.current() == (3, digest)
    finally:
        store.close()
