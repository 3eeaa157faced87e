"""Kong's plugin servers: ``pluginserver_names`` and, for each name ``XXX`` (lower-cased, ``-``
as ``_`` in the keys), ``pluginserver_XXX_start_cmd``, ``pluginserver_XXX_query_cmd`` and
``pluginserver_XXX_socket``.

Kong starts each server with its start command and talks to it over the socket. Gantry starts
none: the data plane reads the start command to find the kong-pdk (Python) plugins it names and
runs them in-process (``dataplane.plugins.kong_pdk``). The query command and the socket are kept
so that a Kong file reads the same, and used for nothing.
"""

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from . import types

# Kong's defaults for a key left unset (kong/runloop/plugin_servers/process.lua): a command is
# used only when the file exists.
_DEFAULT_BIN = "/usr/local/bin"


@dataclass(frozen=True, slots=True)
class PluginServer:
    name: str  # as listed in pluginserver_names, lower-cased
    start_cmd: tuple[str, ...] | None  # argv, split as a shell would; None: none set or found
    query_cmd: tuple[str, ...] | None
    socket: str
    start_cmd_source: str  # where start_cmd came from, for messages about it


def key_prefix(name: str) -> str:
    """``pluginserver_<name>`` as Kong spells the keys of server ``name``."""
    return "pluginserver_" + name.lower().replace("-", "_")


def pluginserver_names(value: str) -> tuple[str, ...]:
    """The names; the loader then reads each one's keys (``plugin_servers``)."""
    names = tuple(name.lower() for name in types.split_list(value))
    for name in names:
        if not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"invalid name '{name}' (letters, digits, '-', '_' and '.')")
    if len(set(names)) != len(names):
        raise ValueError("a name is listed twice")
    return names


def plugin_servers(
    names: tuple[str, ...], settings: Mapping[str, tuple[str, str]], prefix: str
) -> tuple[tuple[PluginServer, ...], list[str]]:
    """Each server's settings (``settings``: the keys the user set, as ``(value, source)``) and
    the problems found, as ``<source>: <key>: <problem>``."""
    servers: list[PluginServer] = []
    errors: list[str] = []

    def command(key: str, default: str) -> tuple[tuple[str, ...] | None, str]:
        found = settings.get(key)
        if found is None:
            return ((default,), "default") if os.path.isfile(default) else (None, "default")
        value, source = found
        try:
            argv = tuple(shlex.split(value))
        except ValueError as err:
            errors.append(f"{source}: {key}: cannot be split into a command line ({err})")
            return None, source
        return argv or None, source

    for name in names:
        keys = key_prefix(name)
        start_cmd, start_source = command(f"{keys}_start_cmd", f"{_DEFAULT_BIN}/{name}")
        query_cmd, _ = command(f"{keys}_query_cmd", f"{_DEFAULT_BIN}/query_{name}")
        socket = settings.get(f"{keys}_socket")
        servers.append(
            PluginServer(
                name=name,
                start_cmd=start_cmd,
                query_cmd=query_cmd,
                socket=socket[0] if socket and socket[0] else os.path.join(prefix, f"{name}.socket"),
                start_cmd_source=start_source,
            )
        )
    return tuple(servers), errors
