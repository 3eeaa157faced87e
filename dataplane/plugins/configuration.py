"""``kong.configuration``: the node's kong.conf as Kong's PDK hands it to plugins, read-only.

Every key of the loaded configuration (the defaults included), by its kong.conf name. A key
Gantry parses into a plain value (a string, number, boolean, or a list of strings) gives that
value, as Kong's conf_loader does (``lua_ssl_verify_depth`` an integer,
``lua_ssl_trusted_certificate`` a list); a key parsed into a richer object (listeners, trusted
IPs) and a key Gantry does not read give the string written in kong.conf. Built once per
worker at its start (``configure``); a plugin reads it as ``kong.configuration.prefix``,
``kong.configuration["prefix"]`` or ``kong.configuration.get("prefix")``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import Any

from dataplane.conf.loader import load_conf
from dataplane.conf.model import Conf

_PLAIN = (str, int, float, bool)


def _plain(value: Any) -> Any:
    """The value as Kong's conf_loader would give it, or None when it is not a plain one."""
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, frozenset)) and all(isinstance(item, str) for item in value):
        return sorted(value) if isinstance(value, frozenset) else list(value)
    return None


class Configuration(Mapping[str, Any]):
    __slots__ = ("_values", "_sanitized")

    def __init__(self, conf: Conf) -> None:
        values: dict[str, Any] = dict(conf.raw)
        for field in dataclasses.fields(conf):
            if field.name in values:
                value = _plain(getattr(conf, field.name))
                if value is not None:
                    values[field.name] = value
        object.__setattr__(self, "_values", values)
        sanitized = conf.as_sanitized_dict()
        object.__setattr__(self, "_sanitized", {k: sanitized.get(k, v) for k, v in values.items()})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        # Kong's table answers nil for a key it does not have
        return self._values.get(key)

    def __setattr__(self, key: str, value: Any) -> None:
        raise TypeError("cannot write to configuration")

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError("cannot write to configuration")

    def remove_sensitive(self) -> dict[str, Any]:
        """Kong's ``kong.configuration.remove_sensitive()``: a copy with passwords, keys and
        secrets replaced by ``******``."""
        return dict(self._sanitized)


_current: Configuration | None = None


def configure(conf: Conf) -> None:
    """The worker's configuration, set once at its start, before any request."""
    global _current
    _current = Configuration(conf)


def current() -> Configuration:
    """The worker's configuration; in a process that loaded none (the plugin test kit), Kong's
    defaults."""
    global _current
    if _current is None:
        _current = Configuration(load_conf(os.devnull, env={}))
    return _current
