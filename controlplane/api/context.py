"""What every handler needs: the store, the conf, the node's identity, enabled plugins and
request counters. One instance per Admin API, kept in `app.state.api`.

The enabled plugins are the ones this node runs, loaded by the data plane's registry code
from the same `plugins` and `pluginserver_*` settings: a plugin entity of any other name is
refused with Kong's "not enabled", since no node of this cluster set up alike would run it."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from dataplane.conf import Conf
from dataplane.plugins import Registry
from dataplane.plugins.node import node_registry


@dataclass
class Counters:
    total_requests: int = 0
    in_flight: int = 0
    # set by the server: client connections accepted so far, and how many of those open now
    # are (reading a request, writing an answer, idle)
    accepted: Callable[[], int] | None = None
    connection_states: Callable[[], tuple[int, int, int]] | None = None


@dataclass
class ApiContext:
    conf: Conf
    db: Any  # controlplane.database.database.Database (duck-typed so tests may wrap it)
    node_id: str
    hostname: str = field(default_factory=socket.gethostname)
    counters: Counters = field(default_factory=Counters)
    registry: Registry | None = None  # the plugins this node runs; None: loaded from conf
    # A DB-less node's configuration (controlplane.api.config.DeclarativeNode), which
    # `/config` reads and replaces; None on a node with a database
    declarative: Any = None
    # A proxying node's health table (dataplane.forced_health.NodeHealth), which Kong's
    # PUT /upstreams/{u}/targets/{t}/healthy|unhealthy sets; None on a node without balancers
    target_health: Any = None
    # The pids of the node's worker processes (Kong's `pids.workers` in `GET /`); None: this
    # process is the only one (a control plane)
    worker_pids: Callable[[], list[int]] | None = None

    def __post_init__(self) -> None:
        if self.registry is None:
            self.registry = node_registry(self.conf)
        self.plugins: frozenset[str] = frozenset(self.registry.names())

    @property
    def node_plugins(self) -> Registry:
        assert self.registry is not None  # set by __post_init__
        return self.registry

    @property
    def store(self) -> Any:
        return self.db.entities


def ctx(request: Request) -> ApiContext:
    return request.app.state.api
