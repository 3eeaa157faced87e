"""``PluginSpec``: what the runtime knows of one plugin a node can run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dataplane.schema import Field

# The phases a plugin may define, in the order a request meets them (kong-pdk's ``response``
# runs once the whole upstream response is read, before header_filter). ``certificate`` and
# ``preread`` (streams) are not run: a plugin defining one is refused when it loads rather than
# half run.
PHASES = ("rewrite", "access", "response", "header_filter", "body_filter", "log")
NOT_RUN_YET = ("certificate", "preread")


class PluginError(Exception):
    """A plugin that cannot be loaded or run on this node; the message says which and why."""


@dataclass(frozen=True, slots=True)
class PluginSpec:
    name: str
    version: str
    priority: int
    factory: Callable[[dict[str, Any]], Any]  # config -> the object whose phase methods run
    phases: frozenset[str]
    config: Field  # the ``config`` record, in the schema DSL of dataplane.schema
    no_consumer: bool = False  # Kong's typedefs.no_consumer: never scoped to a consumer
    lua_style: bool = False  # kong-pdk's default: every PDK call returns (value, error)
    source: str = "bundled"  # bundled | custom | kong-pdk (where it was found, for /plugins/enabled and logs)

    def sort_key(self) -> tuple[int, str]:
        """Kong's order: priority descending, a tie broken by name descending."""
        return (-self.priority, _descending(self.name))


def _descending(name: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in name)
