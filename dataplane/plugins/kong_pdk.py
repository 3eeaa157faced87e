"""Plugins written for Kong's Python PDK (``kong-pdk``), found the way Kong finds them and run
in-process.

Kong starts a plugin server per ``pluginserver_names`` entry and calls it over a socket for
every PDK call. Gantry starts none: it reads the server's start command for the plugin files it
would load, imports them into each worker and gives their phase methods the same PDK the
bundled plugins get, in kong-pdk's calling style (``dataplane.pdk.LuaStyle``). The commands
understood:

- ``kong-python-pluginserver -d DIR`` (or ``--plugins-directory DIR``): Kong 3.0-3.8's server
  of every ``DIR/*.py``, each plugin named by its file;
- ``/path/to/plugin.py`` (or ``python3 /path/to/plugin.py``, or an executable whose ``#!``
  line names python): Kong 3.9's one server per plugin, the file calling
  ``start_dedicated_server(name, ...)`` when run as a script. The plugin is named by the name
  given there, else by its file.

``--no-lua-style`` turns kong-pdk's ``(value, err)`` returns off: values are returned and
errors raised (``PDKError``, a ``kong_pdk.exception.PDKException``). Nothing of the command is
run: the plugin's ``__main__`` block is not either.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from dataplane.conf.pluginservers import PluginServer, key_prefix

from .registry import BUNDLED, spec_from_module
from .spec import PluginError, PluginSpec

if TYPE_CHECKING:
    from dataplane.conf import Conf

log = logging.getLogger("gantry.plugins")

SOURCE = "kong-pdk"
MULTI_PLUGIN_SERVER = "kong-python-pluginserver"
# The phases kong-pdk's loader looks for (kong_pdk/module.py): a Plugin's header_filter method
# is no phase under Kong's plugin server, so it is not one here either.
KONG_PDK_PHASES = frozenset(("certificate", "rewrite", "log", "access", "preread", "response"))

_INTERPRETER = re.compile(r"python[0-9.]*")
# Interpreter options that take the next argument as their value.
_INTERPRETER_VALUED = frozenset(("-X", "-W", "--check-hash-based-pycs"))
# kong-pdk's command line (kong_pdk/cli.py): flags Gantry accepts and has no use for, and
# those of them that take a value.
_SERVER_FLAGS = frozenset(
    (
        "-v",
        "--verbose",
        "-m",
        "--multiprocessing",
        "-g",
        "--gevent",
        "--version",
        "-version",
        "--dump",
        "-dump",
        "--dump-all-plugins",
        "-dump-all-plugins",
    )
)
_SERVER_VALUED = frozenset(
    (
        "-p",
        "--kong-prefix",
        "-kong-prefix",
        "--socket-name",
        "--listen-queue-size",
        "--dump-plugin-info",
        "-dump-plugin-info",
    )
)
_DIRECTORY = frozenset(("-d", "--plugins-directory", "-plugins-directory"))
_NO_LUA_STYLE = "--no-lua-style"


@dataclass(frozen=True, slots=True)
class StartCommand:
    """What a plugin server's start command says to load."""

    directory: str | None  # every *.py in it (the multi-plugin server)
    file: str | None  # this one plugin file (a dedicated server)
    lua_style: bool


@dataclass(frozen=True, slots=True)
class PluginFile:
    name: str
    path: str
    lua_style: bool
    server: str  # the pluginserver_names entry it was found through
    dedicated: bool  # its own server's script (not one of a plugins directory)


def parse_start_cmd(server: str, argv: Sequence[str]) -> StartCommand:
    """Read a start command (already split into words). Raises PluginError for a command that
    is not a kong-pdk server, or one kong-pdk's own command line would refuse."""
    words = list(argv)
    if not words:
        raise PluginError(f"pluginserver '{server}': empty start command")
    program = words.pop(0)
    if _INTERPRETER.fullmatch(os.path.basename(program)):
        program = _script_after_interpreter(server, words)
    if os.path.basename(program) == MULTI_PLUGIN_SERVER:
        directory, lua_style = _server_arguments(server, words, multi=True)
        if directory is None:
            raise PluginError(f"pluginserver '{server}': {MULTI_PLUGIN_SERVER} needs -d/--plugins-directory")
        return StartCommand(os.path.abspath(directory), None, lua_style)
    if program.endswith(".py") or _python_script(program):
        _, lua_style = _server_arguments(server, words, multi=False)
        return StartCommand(None, os.path.abspath(program), lua_style)
    raise PluginError(
        f"pluginserver '{server}': start command '{program}' is neither {MULTI_PLUGIN_SERVER} nor a Python plugin "
        "file; Gantry runs kong-pdk (Python) plugins in-process and no other plugin server"
    )


def _script_after_interpreter(server: str, words: list[str]) -> str:
    """``python3 [options] script.py``: drop the interpreter's options, return the script."""
    while words and words[0].startswith("-"):
        option = words.pop(0)
        if option in ("-m", "-c", "-"):
            raise PluginError(f"pluginserver '{server}': 'python {option}' start commands are not read, name the file")
        if option in _INTERPRETER_VALUED and words:
            words.pop(0)
    if not words:
        raise PluginError(f"pluginserver '{server}': the start command names no Python file")
    return words.pop(0)


def _python_script(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            first = file.readline(256)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _server_arguments(server: str, words: list[str], *, multi: bool) -> tuple[str | None, bool]:
    """(plugins directory, lua style) from kong-pdk's flags, read as its argparse parser reads
    them (``--flag value``, ``--flag=value``, ``-dDIR``)."""
    directory = None
    lua_style = True
    while words:
        word = words.pop(0)
        flag, equals, value = word.partition("=")
        if flag == _NO_LUA_STYLE:
            lua_style = False
        elif multi and flag in _DIRECTORY:
            if not equals:
                if not words:
                    raise PluginError(f"pluginserver '{server}': {flag} needs a directory")
                value = words.pop(0)
            directory = value
        elif flag in _SERVER_VALUED:
            if not equals and words:
                words.pop(0)
        elif flag in _SERVER_FLAGS or re.fullmatch(r"-v+", word):
            pass
        elif multi and word.startswith("-d") and not word.startswith("--"):
            directory = word[2:]
        else:
            raise PluginError(f"pluginserver '{server}': unknown argument '{word}' in the start command")
    return directory, lua_style


def discover(servers: Iterable[PluginServer]) -> dict[str, PluginFile]:
    """Every plugin file the servers' start commands name, by plugin name (the first server
    naming one wins, as in Kong)."""
    found: dict[str, PluginFile] = {}
    for server in servers:
        if server.start_cmd is None:
            raise PluginError(
                f"pluginserver '{server.name}': no start command ({key_prefix(server.name)}_start_cmd is not set and "
                f"/usr/local/bin/{server.name} does not exist); Gantry reads it to find the server's Python plugins"
            )
        command = parse_start_cmd(server.name, server.start_cmd)
        for name, path in _plugin_files(server.name, command):
            if name in found:
                log.error(
                    "kong-pdk plugin '%s' of pluginserver '%s' ignored: pluginserver '%s' has one of that name",
                    name,
                    server.name,
                    found[name].server,
                )
                continue
            found[name] = PluginFile(name, path, command.lua_style, server.name, command.file is not None)
    return found


def _plugin_files(server: str, command: StartCommand) -> list[tuple[str, str]]:
    if command.file is not None:
        if not os.path.isfile(command.file):
            raise PluginError(f"pluginserver '{server}': no plugin file {command.file}")
        return [(dedicated_name(command.file), command.file)]
    assert command.directory is not None
    try:
        entries = sorted(os.listdir(command.directory))
    except OSError as err:
        raise PluginError(f"pluginserver '{server}': plugins directory {command.directory}: {err.strerror}") from None
    return [(entry[:-3], os.path.join(command.directory, entry)) for entry in entries if entry.endswith(".py")]


def dedicated_name(path: str) -> str:
    """The name a plugin file gives ``start_dedicated_server`` (read from its source, not run),
    else its file name without ``.py``."""
    stem = os.path.basename(path)
    stem = stem[:-3] if stem.endswith(".py") else stem
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return stem  # importing it reports the problem
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _called_name(node.func) == "start_dedicated_server":
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value:
                return first.value
    return stem


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def load_plugin_file(name: str, path: str, *, lua_style: bool = True, dedicated: bool = False) -> PluginSpec:
    """Import one kong-pdk plugin file and describe it. ``dedicated``: the file is its own
    server's script, so its directory is importable, as it is to a script run by Python."""
    module = _import_file(name, path, dedicated)
    spec = spec_from_module(name, module, SOURCE, lua_style=lua_style)
    return dataclasses.replace(spec, phases=spec.phases & KONG_PDK_PHASES)


def _import_file(name: str, path: str, dedicated: bool) -> ModuleType:
    # a module name of its own: a plugin file called json.py must not replace the json module
    module_name = "kong_pdk_plugin_" + re.sub(r"\W", "_", name)
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise PluginError(f"kong-pdk plugin '{name}' ({path}): not a Python file")
    module = importlib.util.module_from_spec(loader_spec)
    directory = os.path.dirname(path)
    if dedicated and directory not in sys.path:
        sys.path.append(directory)
    sys.modules[module_name] = module  # before it runs: dataclasses and pickling look it up
    try:
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:
        del sys.modules[module_name]
        raise PluginError(
            f"kong-pdk plugin '{name}' ({_where(path, err)}): import failed: {type(err).__name__}: {err}"
        ) from err
    return module


def _where(path: str, err: BaseException) -> str:
    """``path:line`` of the plugin file's last frame in the traceback (a syntax error's own)."""
    if isinstance(err, SyntaxError) and err.filename == path and err.lineno:
        return f"{path}:{err.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__) if frame.filename == path]
    return f"{path}:{lines[-1]}" if lines else path


def load_kong_pdk_plugins(servers: Iterable[PluginServer], plugins: Iterable[str]) -> list[PluginSpec]:
    """The kong-pdk plugins the servers provide that ``plugins`` names (Kong loads no other);
    a bundled plugin of the same name wins, as Kong's Lua plugin does."""
    found = discover(servers)
    specs = []
    for name in dict.fromkeys(plugins):
        if name in found and name not in BUNDLED:
            plugin = found[name]
            specs.append(load_plugin_file(name, plugin.path, lua_style=plugin.lua_style, dedicated=plugin.dedicated))
    unused = sorted(set(found) - {spec.name for spec in specs})
    if unused:
        log.debug("kong-pdk plugins found but not in 'plugins', not loaded: %s", ", ".join(unused))
    return specs


def kong_pdk_specs(conf: Conf) -> list[PluginSpec]:
    """The kong-pdk plugins of a node's ``pluginserver_*`` and ``plugins`` settings, for
    ``load_registry(conf.plugins, extra=...)``. Raises PluginError naming the server or the
    file and what is wrong."""
    if not conf.pluginserver_names:
        return []
    return load_kong_pdk_plugins(conf.pluginserver_names, conf.plugins)
