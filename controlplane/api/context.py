"""What every handler needs: the store, the conf, the node's identity, enabled plugins and
request counters. One instance per Admin API, kept in `app.state.api`."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from dataplane.conf import Conf
from dataplane.schema import BUNDLED_PLUGINS


def enabled_plugins(conf: Conf) -> frozenset[str]:
    """Kong's `plugins` key: `bundled`, plugin names, or `off`."""
    names: set[str] = set()
    for word in (w.strip() for w in conf.raw.get("plugins", "bundled").split(",")):
        if word == "bundled":
            names |= BUNDLED_PLUGINS
        elif word and word != "off":
            names.add(word)
    return frozenset(names)


@dataclass
class Counters:
    total_requests: int = 0
    in_flight: int = 0
    # set by the server: how many client connections are open right now
    open_connections: Callable[[], int] | None = None


@dataclass
class ApiContext:
    conf: Conf
    db: Any  # controlplane.database.database.Database (duck-typed so tests may wrap it)
    node_id: str
    hostname: str = field(default_factory=socket.gethostname)
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self.plugins = enabled_plugins(self.conf)
        # process() always knows the bundled plugins; it is told about the others
        self.extra_plugins = self.plugins - BUNDLED_PLUGINS

    @property
    def store(self) -> Any:
        return self.db.entities


def ctx(request: Request) -> ApiContext:
    return request.app.state.api
