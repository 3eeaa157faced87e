"""``load_conf``: defaults < kong.conf < ``KONG_*`` environment < explicit overrides, then
typing, validation and path resolution. All problems are raised together."""

import logging
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import kong_keys, syntax
from .checks import cross_check
from .env import env_values
from .errors import ConfError
from .keys import HONOURED, PREFIX_RELATIVE, REPLACEMENTS, KeySpec
from .model import Conf
from .pluginservers import plugin_servers

log = logging.getLogger("dataplane.conf")

# Where Kong looks when no file is named.
DEFAULT_PATHS = ("/etc/kong/kong.conf", "/etc/kong.conf")

Setting = tuple[str, str]  # (value, source)


def load_conf(
    path: str | None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Conf:
    """Load a kong.conf (or Kong's default locations when ``path`` is None)."""
    settings, errors = _user_settings(path, os.environ if env is None else env, overrides or {})
    raw = {**kong_keys.KONG_DEFAULTS, **kong_keys.DOCUMENTED_ONLY, **kong_keys.INJECTED}
    raw.update({key: value for key, (value, _) in settings.items()})

    values: dict[str, Any] = {}
    sources: dict[str, str] = {key: source for key, (_, source) in settings.items()}
    for spec in HONOURED.values():
        name, value, source = _effective(spec, settings)
        try:
            values[spec.name] = spec.parse(value)
        except ValueError as exc:
            errors.append(f"{source}: {name}: {exc}")
        if name != spec.name:
            sources[spec.name] = source
    # a server's own keys are named after it: read once the names are known
    servers, server_errors = plugin_servers(
        values.get("pluginserver_names", ()), settings, os.path.abspath(values.get("prefix", "."))
    )
    values["pluginserver_names"] = servers
    errors += server_errors
    errors += cross_check(values, lambda key: sources.get(key, "default"))
    if errors:
        raise ConfError(errors)

    _log_not_applicable(settings)
    _resolve_paths(values)
    return Conf(**values, raw=MappingProxyType(raw), _sources=MappingProxyType(sources))


def _user_settings(
    path: str | None, env: Mapping[str, str], overrides: Mapping[str, object]
) -> tuple[dict[str, Setting], list[str]]:
    settings: dict[str, Setting] = {}
    errors: list[str] = []
    path = path if path is not None else next((p for p in DEFAULT_PATHS if os.path.exists(p)), None)
    if path is not None:
        settings.update(_file_settings(path))
    settings.update(env_values(env))
    for key, value in overrides.items():
        if kong_keys.is_kong_key(key):
            settings[key] = (_as_text(value), "override")
        else:
            errors.append(f"override: {key}: unknown property")
    return settings, errors


def _file_settings(path: str) -> dict[str, Setting]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfError([f"no file at: {path}"]) from None  # Kong's wording
    except OSError as exc:
        raise ConfError([f"could not load config file: {path}: {exc.strerror}"]) from None
    lines, ignored = syntax.parse_text(text)
    for skipped in ignored:
        log.warning("%s:%d: line ignored, it assigns nothing: %s", path, skipped.number, skipped.text)
    settings: dict[str, Setting] = {}
    for line in lines:
        if kong_keys.is_kong_key(line.key):
            settings[line.key] = (line.value, f"{path}:{line.number}")
        else:
            # Kong drops unknown properties silently; a warning makes typos visible.
            hint = f" (did you mean '{line.key.lower()}'?)" if kong_keys.is_kong_key(line.key.lower()) else ""
            log.warning("%s:%d: unknown property '%s' ignored%s", path, line.number, line.key, hint)
    return settings


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value).strip()


def _effective(spec: KeySpec, settings: Mapping[str, Setting]) -> tuple[str, str, str]:
    """(name actually set, value, source) for an honoured key; a user-set replacement wins."""
    for name in (spec.replaced_by, spec.name):
        if name is not None and name in settings:
            value, source = settings[name]
            return name, value, source
    return spec.name, spec.default, "default"


def _log_not_applicable(settings: Mapping[str, Setting]) -> None:
    ignored = sorted(key for key in settings if key not in HONOURED and key not in REPLACEMENTS)
    if ignored:
        log.debug("Kong settings not applicable to Gantry, accepted and ignored: %s", ", ".join(ignored))


def _resolve_paths(values: dict[str, Any]) -> None:
    # Kong makes the prefix absolute and runs nginx inside it, so log and LMDB paths are
    # relative to the prefix; the declarative file is relative to the working directory.
    prefix = values["prefix"] = os.path.abspath(values["prefix"])
    for key in PREFIX_RELATIVE:
        if values[key] is not None:
            values[key] = os.path.normpath(os.path.join(prefix, values[key]))
    if values["declarative_config"] is not None:
        values["declarative_config"] = os.path.abspath(values["declarative_config"])
