"""The plugins a node can run: Gantry's bundled ones that run, and custom ones named in the
``plugins`` setting (Kong's syntax: ``bundled,NAME,...``; ``off`` for none).

A custom plugin ``NAME`` is the module an entry point of the group ``gantry.plugins`` names, or
else the importable module ``NAME`` with dashes as underscores. Either way the module has Kong's
shape: ``Plugin``, ``Schema``, ``priority``, ``version`` (``Schema`` is a ``dataplane.schema``
``Field`` record, or Kong's list of field tables as kong-pdk plugins write it).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from dataplane.schema import Field, register_plugin_config

from .kong_schema import config_from_kong_fields
from .spec import NOT_RUN_YET, PHASES, PluginError, PluginSpec

log = logging.getLogger("gantry.plugins")

# Bundled plugins Gantry runs, by Kong's name. The others of Kong's bundled list are not run, so
# a config using one is refused as "not enabled", as any name a node's registry lacks.
BUNDLED: Mapping[str, str] = {
    "acl": "dataplane.plugins.bundled.acl",
    "basic-auth": "dataplane.plugins.bundled.basic_auth",
    "correlation-id": "dataplane.plugins.bundled.correlation_id",
    "cors": "dataplane.plugins.bundled.cors",
    "file-log": "dataplane.plugins.bundled.file_log",
    "hmac-auth": "dataplane.plugins.bundled.hmac_auth",
    "http-log": "dataplane.plugins.bundled.http_log",
    "ip-restriction": "dataplane.plugins.bundled.ip_restriction",
    "jwt": "dataplane.plugins.bundled.jwt",
    "key-auth": "dataplane.plugins.bundled.key_auth",
    "rate-limiting": "dataplane.plugins.bundled.rate_limiting",
    "request-size-limiting": "dataplane.plugins.bundled.request_size_limiting",
    "request-termination": "dataplane.plugins.bundled.request_termination",
    "request-transformer": "dataplane.plugins.bundled.request_transformer",
    "response-transformer": "dataplane.plugins.bundled.response_transformer",
    "tcp-log": "dataplane.plugins.bundled.tcp_log",
    "udp-log": "dataplane.plugins.bundled.udp_log",
}

_VERSION = re.compile(r"\d+\.\d+\.\d+")
ENTRY_POINT_GROUP = "gantry.plugins"


class Registry:
    """The node's runnable plugins by name."""

    __slots__ = ("specs",)

    def __init__(self, specs: Iterable[PluginSpec]) -> None:
        self.specs: dict[str, PluginSpec] = {spec.name: spec for spec in specs}

    def get(self, name: str) -> PluginSpec | None:
        return self.specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def names(self) -> list[str]:
        return sorted(self.specs)


def load_registry(plugins: Iterable[str] = ("bundled",), *, extra: Iterable[PluginSpec] = ()) -> Registry:
    """The plugins of a ``plugins`` setting, each module imported and checked once; ``extra``:
    specs found another way (kong-pdk plugins named by ``pluginserver_names``). Raises
    PluginError naming the plugin and what is wrong with it."""
    specs: list[PluginSpec] = []
    extra = list(extra)
    provided = {spec.name for spec in extra}  # named in ``plugins`` as Kong wants, found already
    for name in plugins:
        if name == "off" or name in provided:
            continue
        if name == "bundled":
            specs += (spec_from_module(n, importlib.import_module(path), "bundled") for n, path in BUNDLED.items())
        elif name in BUNDLED:
            specs.append(spec_from_module(name, importlib.import_module(BUNDLED[name]), "bundled"))
        else:
            specs.append(spec_from_module(name, _import_custom(name), "custom"))
    specs += extra
    registry = Registry(specs)
    for spec in registry.specs.values():
        register_plugin_config(spec.name, spec.config, no_consumer=spec.no_consumer)
    return registry


def _import_custom(name: str) -> ModuleType:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            module = entry.load()
            if not isinstance(module, ModuleType):
                raise PluginError(f"plugin '{name}': entry point {entry.value} is not a module")
            return module
    module_name = name.replace("-", "_")
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise PluginError(
            f"plugin '{name}' not found: no '{ENTRY_POINT_GROUP}' entry point named so and no module "
            f"'{module_name}' ({err})"
        ) from None


def spec_from_module(name: str, module: ModuleType, source: str, *, lua_style: bool = False) -> PluginSpec:
    """Check a plugin module of Kong's shape and describe it."""
    plugin = getattr(module, "Plugin", None)
    if not isinstance(plugin, type):
        raise PluginError(f"plugin '{name}' ({module.__name__}): no Plugin class")
    version = getattr(module, "version", None) or getattr(module, "VERSION", None) or "0.1.0"
    if not isinstance(version, str) or not _VERSION.match(version):
        raise PluginError(f"plugin '{name}': version {version!r} is not x.y.z")
    priority = getattr(module, "priority", getattr(module, "PRIORITY", 0))
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise PluginError(f"plugin '{name}': priority {priority!r} is not an integer")
    not_run = [phase for phase in NOT_RUN_YET if callable(getattr(plugin, phase, None))]
    if not_run:
        raise PluginError(f"plugin '{name}': the {', '.join(not_run)} phase is not run by Gantry yet")
    if inspect.iscoroutinefunction(getattr(plugin, "header_filter", None)):
        raise PluginError(f"plugin '{name}': header_filter cannot be a coroutine (the response head is on its way)")
    schema: Any = getattr(module, "Schema", ())
    config = schema if isinstance(schema, Field) else config_from_kong_fields(name, schema)
    phases = frozenset(phase for phase in PHASES if callable(getattr(plugin, phase, None)))
    return PluginSpec(
        name=name,
        version=version,
        priority=priority,
        factory=plugin,
        phases=phases,
        config=config,
        no_consumer=bool(getattr(module, "no_consumer", False)),
        lua_style=lua_style,
        source=source,
    )
