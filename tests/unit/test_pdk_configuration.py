"""kong.configuration: the node's kong.conf, read-only, as plugins see it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dataplane.conf import load_conf
from dataplane.plugins import configuration
from dataplane.plugins.configuration import Configuration
from dataplane.plugins.testing import PluginHarness
from tests.support.plugin_modules import module


def _conf(tmp_path: Path, text: str) -> Configuration:
    path = tmp_path / "kong.conf"
    path.write_text(textwrap.dedent(text))
    return Configuration(load_conf(str(path), env={}))


def test_values_typed_as_kong_gives_them(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path,
        f"""
        prefix = {tmp_path}/node
        lua_ssl_verify_depth = 3
        lua_ssl_trusted_certificate = system
        real_ip_recursive = on
        plugins = bundled, my-plugin
        """,
    )
    assert conf.prefix == f"{tmp_path}/node"
    assert conf["lua_ssl_verify_depth"] == 3
    assert conf.lua_ssl_trusted_certificate == ["system"]
    assert conf.real_ip_recursive is True
    assert conf.get("plugins") == ["bundled", "my-plugin"]
    # a key parsed into a richer object gives what kong.conf says
    assert conf.proxy_listen.startswith("0.0.0.0:8000")
    # a key Kong has that Gantry does not read is there too, as written; an unknown key is None
    assert "mem_cache_size" in conf
    assert conf.no_such_key is None
    assert "no_such_key" not in conf


def test_read_only(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "log_level = debug\n")
    with pytest.raises(TypeError, match="cannot write to configuration"):
        conf.log_level = "info"  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot write to configuration"):
        conf["log_level"] = "info"  # type: ignore[index]
    assert conf.log_level == "debug"


def test_remove_sensitive_masks_secrets(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "pg_password = hunter2\npg_user = kong\n")
    assert conf.pg_password == "hunter2"
    sanitized = conf.remove_sensitive()
    assert sanitized["pg_password"] == "******"
    assert sanitized["pg_user"] == "kong"
    assert conf.pg_password == "hunter2"  # the copy is masked, not the configuration


READER = module(
    "reader",
    """
    priority = 10
    version = "1.0.0"

    class Plugin:
        def __init__(self, config):
            pass

        def access(self, kong):
            kong.service.request.set_header("x-depth", kong.configuration.lua_ssl_verify_depth)
            kong.service.request.set_header("x-role", kong.configuration["role"])
    """,
)


def test_a_plugin_reads_the_worker_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kong.conf"
    path.write_text("lua_ssl_verify_depth = 4\n")
    monkeypatch.setattr(configuration, "_current", None)
    configuration.configure(load_conf(str(path), env={}))
    result = PluginHarness(READER).run()
    assert result.upstream is not None
    assert result.upstream.headers["x-depth"] == "4"
    assert result.upstream.headers["x-role"] == "traditional"


def test_kong_defaults_where_no_configuration_was_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(configuration, "_current", None)
    result = PluginHarness(READER).run()
    assert result.upstream is not None
    assert result.upstream.headers["x-depth"] == "1"  # Kong's default
