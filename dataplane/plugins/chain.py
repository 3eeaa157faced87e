"""``RequestPlugins``: one request's plugins and what they asked for.

The exchange (dataplane/proxy/phases.py) calls one method per phase; each runs the plugins that
define that phase, in Kong's order. What plugins change is recorded here and applied by the
exchange where the gateway does that work anyway: the upstream head at the end of access, the
client's head in header_filter. A plugin that raises is logged with its traceback and the
client gets Kong's 500; the worker goes on.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from dataplane._core import apply_header_ops
from dataplane.pdk import Kong, LuaStyle, PDKError, headers as fields
from dataplane.proxy import errors
from dataplane.proxy.response import STATUS_LINES

from . import serializer
from .plan import GLOBAL, Configured, PluginPlans, Slot

if TYPE_CHECKING:
    from dataplane._core import RouteMatch
    from dataplane.proxy.phases import Exchange
    from dataplane.proxy.runtime import Runtime

log = logging.getLogger("gantry.plugins")

# What a request phase answers: whether a plugin ended the request, or an awaitable of that
# answer when a plugin's phase is a coroutine (``async def access``) and the chain waits for it.
Verdict = bool | Coroutine[Any, Any, bool]

# A phase of one plugin that holds the event loop longer than this is logged: every other
# request of the worker waited for it.
SLOW_PHASE = 0.1


# The phases that read or change the response: a request whose plugins have none of them (the
# authentication plugins, acl) has its response relayed as a plugin-less route's.
_RESPONSE_PHASES = frozenset(("header_filter", "body_filter", "response", "log"))

# Fields of the upstream head that say how it is framed or concern one hop only.
_GATEWAY_FIELDS = frozenset(
    (
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"proxy-connection",
    )
)
_UPSTREAM_PHASES = frozenset(("rewrite", "access"))
# Upstream field names plugins change, each checked once (a token, neither the gateway's nor
# Host): an authentication plugin changes the same five on every request
_UPSTREAM_NAMES: dict[str, bytes] = {}
_UPSTREAM_NAMES_KEPT = 1024  # names taken from request data cannot grow it without bound


def _ended(configs: Iterator[Configured]) -> None:
    """A plugin ended the request: the rest of the chain does not run, but is still resolved
    (collected), so that its header_filter, body_filter and log see the answer, as in Kong."""
    for _ in configs:
        pass


class RequestPlugins:
    __slots__ = (
        "exchange",
        "runtime",
        "plans",
        "slots",
        "route_id",
        "service_id",
        "match",
        "collected",
        "kong",
        "lua_kong",
        "plugin_ctx",
        "consumer",
        "credential",
        "upstream_ops",
        "upstream_changes",
        "response_ops",
        "status",
        "exit",
        "source",
        "current",
        "serialize_values",
        "response_head",
        "header_filtered",
        "phase",
        "upstream_host",
        "failed",
        "body_checks",
        "body_ends",
        "body_filters",
        "chunk",
        "last_chunk",
        "body_ended",
        "body_buffers",
        "service_body",
        "sent_head",
        "service_changes",
        "balancer_tries",
        "t_head",
        "t_log",
        "t_epoch",
        "log_entry",
        "accessed",
    )

    def __init__(self, exchange: Exchange, runtime: Runtime) -> None:
        self.exchange = exchange
        self.runtime = runtime
        plans = runtime.plugin_plans
        if plans is None:
            raise ValueError("no plugin runs on this configuration version")
        self.plans: PluginPlans = plans
        self.slots: tuple[Slot, ...] = ()
        self.route_id: str | None = None
        self.service_id: str | None = None
        self.match: RouteMatch | None = None
        self.collected: list[Configured] = []  # resolved in access, run in the later phases
        self.kong = Kong(self)
        self.lua_kong: LuaStyle | None = None
        self.plugin_ctx: dict[int, Any] = {}
        self.consumer: dict[str, Any] | None = None
        self.credential: dict[str, Any] | None = None
        self.upstream_ops: list[fields.Op] = []
        self.upstream_changes: dict[str, bytes] = {}
        self.response_ops: list[fields.Op] = []
        self.status = 0  # set by kong.response.set_status
        self.exit: tuple[int, bytes, bytes | None, list[tuple[bytes, bytes]]] | None = None
        self.source = ""  # "exit" or "error" once a plugin answered
        self.current: Configured | None = None
        self.serialize_values: list[tuple[str, Any, str]] = []  # kong.log.set_serialize_value's, in order
        self.response_head: bytes | None = None  # the client's head while header_filter runs
        self.header_filtered = False
        self.phase = ""
        self.upstream_host: bytes | None = None  # kong.service.request.set_header("Host", ...)
        self.failed = False  # a plugin raised in header_filter: the client gets a 500 instead
        # kong.request.watch_body: plugins judging a body that arrives after access
        self.body_checks: list[tuple[Configured, Callable[[int], None]]] = []
        self.body_ends: list[tuple[Configured, Callable[[], None]]] = []  # their ``whole`` callbacks
        # body_filter: the plugins defining it (known once access ran), the piece of the body
        # they are handed, whether it is the last, whether one ended the body early
        # (set_raw_body), and what kong.response.get_raw_body gathered for each
        self.body_filters: list[Configured] | None = None
        self.chunk = b""
        self.last_chunk = False
        self.body_ended = False
        self.body_buffers: dict[int, list[bytes]] = {}
        self.service_body: bytes | None = None  # the upstream's whole body, when it was buffered
        self.sent_head: bytes | None = None  # the client's head once header_filter made it
        # kong.service.set_* and set_scheme: how this request reaches its service
        # (ServiceTarget.changed applies them at the end of access)
        self.service_changes: dict[str, Any] = {}
        # what kong.log.serialize reports beyond the exchange's own times (loop times): the
        # balancer's tries, when the response head came (the upstream's, else the gateway's),
        # when the log phase began
        self.balancer_tries: serializer.BalancerTries | None = None
        self.t_head = 0.0
        self.t_log = 0.0
        self.t_epoch = 0.0
        self.log_entry: tuple[int, bytes] | None = None  # the record as JSON, for the logging plugins
        self.accessed = False  # access resolved the plugins of the request

    # -- phases ----------------------------------------------------------------------------

    def rewrite(self) -> Verdict:
        """Global plugins, before routing. True when one ended the request; an awaitable of
        that answer when a plugin's phase is a coroutine (the rest of the chain runs after it)."""
        self.phase = "rewrite"
        configs = (slot.configs[GLOBAL] for slot in self.plans.global_slots)
        return self._chain("rewrite", (configured for configured in configs if "rewrite" in configured.spec.phases))

    def routed(self, match: RouteMatch | None) -> None:
        """The router's answer: the plugins that may run on this route and service."""
        self.match = match
        if match is not None:
            self.route_id, self.service_id = match.route_id, match.service_id
        self.slots = self.plans.for_route(self.route_id, self.service_id)

    def access(self) -> Verdict:
        """Resolve each plugin's config (with the consumer known so far) and run its access
        phase. True when a plugin ended the request; an awaitable of that answer when a
        plugin's phase is a coroutine."""
        self.phase = "access"
        self.accessed = True
        return self._chain("access", self._access_configs())

    def _access_configs(self) -> Iterator[Configured]:
        """Each slot resolved when its turn comes: an earlier plugin may have identified the
        consumer that selects a later plugin's config."""
        route, service = self.route_id, self.service_id
        for slot in self.slots:
            consumer = None if slot.spec.no_consumer or self.consumer is None else self.consumer.get("id")
            groups = self.runtime.identities.consumer_groups(consumer) if consumer and slot.group_scoped else ()
            configured = slot.resolve(route, service, consumer, groups)
            if configured is None:
                continue
            self.collected.append(configured)
            if "access" in configured.spec.phases:
                yield configured

    def header_filter(self, head: bytes) -> bytes:
        """The client's head as the plugins leave it: their header_filter phase, then every
        header change they asked for since the request began."""
        self.header_filtered = True
        if not self.t_head:
            self.t_head = self.exchange.conn.loop.time()
        self._static_order()
        self.phase = "header_filter"
        self.response_head = head
        for configured in self.collected:
            if "header_filter" in configured.spec.phases:
                self._run(configured, "header_filter")
        self.response_head = None
        if self.response_ops or self.status:
            at = head.find(b"\r\n")
            start, rest = head[:at], head[at:]
            if self.status:
                start = (STATUS_LINES.get(self.status) or b"HTTP/1.1 %d \r\n" % self.status).rstrip(b"\r\n")
            if self.response_ops:  # one native pass, as the upstream head's (checked again there)
                rest = apply_header_ops(rest, self.response_ops, None, True)
            head = start + rest
        self.sent_head = head
        return head

    def sees_response(self) -> bool:
        """Whether the response goes through the plugins: one that ran has a phase reading or
        changing it, or one asked in access for a change of the client's head. When none
        does, the response takes the fast lane, as on a route without plugins."""
        if self.response_ops or self.status:
            return True
        for configured in self.collected:  # noqa: SIM110  # a loop: a generator costs a request ~0.5 us
            if not _RESPONSE_PHASES.isdisjoint(configured.spec.phases):
                return True
        return False

    def _static_order(self) -> None:
        """The phases after access run in Kong's static order, whatever order dynamic ordering
        gave access (the chain is sorted at most once: sorting a sorted list is one pass).
        When access never ran (no route matched, a rewrite plugin answered), they run the
        global plugins, as Kong's collected iterator falls back to them."""
        if not self.accessed:
            self.accessed = True
            self.collected = [slot.configs[GLOBAL] for slot in self.plans.global_slots]
        if self.plans.ordered:
            self.collected.sort(key=lambda configured: configured.spec.sort_key())

    # -- the response body ------------------------------------------------------------------

    def filters_body(self) -> bool:
        """Whether a plugin that ran for this request has a body_filter."""
        self._static_order()
        if self.body_filters is None:
            # a plugin object may turn its body_filter off for its config (set it to None)
            self.body_filters = [
                c for c in self.collected if "body_filter" in c.spec.phases and c.instance.body_filter is not None
            ]
        return bool(self.body_filters)

    def buffers_response(self) -> bool:
        """Whether a plugin that ran for this request has a response phase (kong-pdk's): the
        upstream's response is then read whole before any of it goes to the client."""
        self._static_order()
        return any("response" in configured.spec.phases for configured in self.collected)

    def response(self, head: bytes, body: bytes) -> bool:
        """kong-pdk's response phase, with the whole upstream response read (``head``: the
        client's head as built so far). Plugins read ``kong.service.response.get_raw_body``,
        change the status and headers, or replace the response with ``kong.response.exit``
        (True then)."""
        self.phase = "response"
        self.service_body = body
        self.response_head = head
        try:
            for configured in self.collected:
                if "response" in configured.spec.phases and self._run(configured, "response"):
                    return True
        finally:
            self.response_head = None
        return False

    def body_filter(self, chunk: bytes, last: bool) -> bytes:
        """One piece of the response body through every body_filter, in order; what the client
        gets of it. After a plugin ended the body (``set_raw_body``) the rest is dropped."""
        if self.body_ended:
            return b""
        self.phase = "body_filter"
        for configured in self.body_filters or ():
            self.chunk, self.last_chunk = chunk, last
            self._run(configured, "body_filter")
            if self.failed:
                return b""
            chunk, ended = self.chunk, self.last_chunk
            if ended and not last:
                self.body_ended = last = True
        return chunk

    def raw_body(self) -> bytes | None:
        """``kong.response.get_raw_body`` in body_filter: the pieces are held back from the
        client and gathered for the current plugin; the whole body at the last one."""
        if self.phase != "body_filter":
            raise PDKError(f"kong.response.get_raw_body is only allowed in the body_filter phase, not {self.phase}")
        gathered = self.body_buffers.setdefault(id(self.current), [])
        gathered.append(self.chunk)
        if not self.last_chunk:
            self.chunk = b""
            return None
        body = b"".join(gathered)
        self.chunk = body
        return body

    def set_chunk(self, data: bytes, last: bool) -> None:
        if self.phase != "body_filter":
            raise PDKError(f"the response body can only be changed in the body_filter phase, not {self.phase}")
        self.chunk = data
        self.last_chunk = self.last_chunk or last

    def log_phase(self) -> Coroutine[Any, Any, None] | None:
        """After the response went out, off the request's path. The coroutine phases of the
        plugins come back as one coroutine, awaiting them in order, for the caller to run as a
        task (a log plugin sending to a collector waits there, never the client)."""
        self._static_order()
        self.phase = "log"
        self.t_log = self.exchange.conn.loop.time()
        pending: list[tuple[Configured, Awaitable[Any]]] = []
        for configured in self.collected:
            if "log" in configured.spec.phases:
                outcome = self._run(configured, "log")
                if not isinstance(outcome, bool):
                    pending.append((configured, outcome))
        return self._logged(pending) if pending else None

    async def _logged(self, pending: list[tuple[Configured, Awaitable[Any]]]) -> None:
        for configured, awaitable in pending:
            await self._awaited(configured, "log", awaitable)

    # -- the request body, after access ---------------------------------------------------

    def watch_body(self, check: Callable[[int], None], whole: Callable[[], None] | None = None) -> None:
        """``kong.request.watch_body``: the current plugin's ``check(received)`` runs now with the
        body bytes received so far, then each time more arrives, until the body is whole; then
        ``whole()`` runs once (now, when the body is whole already)."""
        configured = self.current
        if configured is None or self.phase != "access":
            raise PDKError("kong.request.watch_body is only allowed in the access phase")
        self.body_checks.append((configured, check))
        check(self.exchange.body_received)
        if whole is not None and self.exit is None:
            if self.exchange.body_done:
                whole()
            else:
                self.body_ends.append((configured, whole))

    def body_received(self, received: int) -> bool:
        """More of the request body arrived (``received`` bytes in all): the watching plugins'
        checks run, in the "body" phase, where kong.response.exit and error still answer. True
        when one ended the request (a check that raises gets Kong's 500)."""
        return self._body_phase([(configured, partial(check, received)) for configured, check in self.body_checks])

    def body_complete(self) -> bool:
        """The request body is whole: the watching plugins' ``whole`` callbacks run, once, as
        body_received's checks do. True when one ended the request."""
        ends, self.body_ends = self.body_ends, []
        return self._body_phase(ends)

    def _body_phase(self, calls: list[tuple[Configured, Callable[[], None]]]) -> bool:
        self.phase = "body"
        for configured, call in calls:
            self.current = configured
            try:
                call()
            except Exception:
                log.exception(
                    "plugin %s failed checking the request body (request %s)",
                    configured.spec.name,
                    self.exchange.request_id.decode(),
                )
                self._fail()
            finally:
                self.current = None
            if self.exit is not None:
                return True
        return False

    # -- running one plugin ----------------------------------------------------------------

    def _chain(self, phase: str, configs: Iterator[Configured]) -> Verdict:
        for configured in configs:
            outcome = self._run(configured, phase)
            if outcome is True:
                _ended(configs)
                return True
            if outcome is not False:
                return self._resume(outcome, configured, phase, configs)
        return False

    async def _resume(
        self, pending: Awaitable[Any], configured: Configured, phase: str, configs: Iterator[Configured]
    ) -> bool:
        if await self._awaited(configured, phase, pending):
            _ended(configs)
            return True
        rest = self._chain(phase, configs)
        return rest if isinstance(rest, bool) else await rest

    async def _awaited(self, configured: Configured, phase: str, pending: Awaitable[Any]) -> bool:
        """The rest of a coroutine phase; what ``_run`` does for a plain one (the time it
        spends waiting is not held against it: other requests ran meanwhile)."""
        self.current = configured
        self.phase = phase
        try:
            await pending
        except Exception:
            log.exception(
                "plugin %s failed in %s (request %s)", configured.spec.name, phase, self.exchange.request_id.decode()
            )
            if phase in ("rewrite", "access"):
                self._fail()
                return True
        finally:
            self.current = None
        return self.exit is not None

    def _run(self, configured: Configured, phase: str) -> bool | Awaitable[Any]:
        """Run one phase of one plugin; True when it ended the request (or failed where that
        ends it); the awaitable when the phase is a coroutine (header_filter never is: the
        registry refuses such a plugin)."""
        self.current = configured
        spec = configured.spec
        kong: Any = self.kong
        if spec.lua_style:
            kong = self.lua_kong = self.lua_kong or LuaStyle(self.kong)
        began = time.perf_counter()
        try:
            outcome = getattr(configured.instance, phase)(kong)
            if outcome is not None and inspect.isawaitable(outcome):
                return outcome
        except Exception:
            log.exception("plugin %s failed in %s (request %s)", spec.name, phase, self.exchange.request_id.decode())
            if phase in ("rewrite", "access", "response"):
                self._fail()
                return True
            if phase in ("header_filter", "body_filter"):
                self.failed = True
        finally:
            self.current = None
            spent = time.perf_counter() - began
            if spent > SLOW_PHASE:
                log.warning(
                    "plugin %s held the worker %.0f ms in %s (request %s)",
                    spec.name,
                    spent * 1000,
                    phase,
                    self.exchange.request_id.decode(),
                )
        return self.exit is not None

    def _fail(self) -> None:
        exchange = self.exchange
        content_type = errors.media_type(exchange.headers.value(b"accept"))
        body = errors.render(500, None, exchange.request_id, content_type)
        self.exit = (500, body, content_type, [])
        self.source = "error"

    # -- what the PDK records --------------------------------------------------------------

    def exit_with(
        self, status: int, body: bytes, content_type: bytes | None, extra: list[tuple[bytes, bytes]], source: str
    ) -> None:
        if self.phase not in ("rewrite", "access", "body", "response"):
            raise PDKError(f"kong.response.{source} is not allowed in the {self.phase} phase")
        if self.exit is None:
            self.exit = (status, body, content_type, extra)
            self.source = source

    def upstream_op(self, kind: int, name: str, value: Any) -> None:
        if self.phase not in _UPSTREAM_PHASES:
            raise PDKError(f"the upstream request cannot be changed in the {self.phase} phase")
        raw = _UPSTREAM_NAMES.get(name) if type(name) is str else None
        if raw is None:
            raw = fields.field_name(name)
            key = raw.lower()
            if key in _GATEWAY_FIELDS:
                raise PDKError(f"header '{name}' frames the request or is per hop: the gateway sets it")
            if key == b"host":
                if kind == fields.CLEAR:
                    raise PDKError("the upstream request needs a Host")
                self.upstream_host = fields.field_value(value)
                return
            if type(name) is str and len(_UPSTREAM_NAMES) < _UPSTREAM_NAMES_KEPT:
                _UPSTREAM_NAMES[name] = raw
        self.upstream_ops.append((kind, raw, b"" if kind == fields.CLEAR else fields.field_value(value)))

    def upstream_change(self, part: str, value: bytes) -> None:
        if self.phase not in ("rewrite", "access"):
            raise PDKError(f"the upstream request cannot be changed in the {self.phase} phase")
        self.upstream_changes[part] = value

    def service_change(self, name: str, value: Any, call: str, phases: tuple[str, ...] = ("rewrite", "access")) -> None:
        if self.phase not in phases:
            raise PDKError(f"{call} is not allowed in the {self.phase} phase")
        self.service_changes[name] = value

    def response_op(self, kind: int, name: str, value: Any) -> None:
        if self.phase == "log" or (self.header_filtered and self.response_head is None):
            raise PDKError(f"the response headers are sent already ({self.phase} phase)")
        self.response_ops.append((kind, fields.field_name(name), fields.field_value(value)))

    def response_fields(self) -> list[tuple[bytes, bytes]]:
        """The client's response fields as they are now (from header_filter on)."""
        head = self.response_head
        if head is not None:
            lines = fields.apply(fields.split_head(head)[1], self.response_ops)
        elif self.sent_head is not None:
            lines = fields.split_head(self.sent_head)[1]
        else:
            return []
        return [(name.strip(), value.strip(b" \t")) for name, _, value in (line.partition(b":") for line in lines)]

    def response_values(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.response_fields() if key.lower() == name]

    def plugin_context(self) -> Any:
        from dataplane.pdk.kong import SharedContext

        key = id(self.current)
        context = self.plugin_ctx.get(key)
        if context is None:
            context = self.plugin_ctx[key] = SharedContext()
        return context

    def current_name(self) -> str:
        return self.current.spec.name if self.current is not None else "-"

    def current_id(self) -> str | None:
        return self.current.entity.get("id") if self.current is not None else None

    def entity(self, kind: str, entity_id: str | None) -> dict[str, Any] | None:
        return None if entity_id is None else self.runtime.identities.entity(kind, entity_id)

    def start_epoch(self) -> float:
        """When the request began, in seconds since the epoch: reckoned once, so that every
        reading (kong.request.get_start_time, each plugin's serialize) agrees."""
        if not self.t_epoch:
            exchange = self.exchange
            self.t_epoch = time.time() - (exchange.conn.loop.time() - exchange.start)
        return self.t_epoch

    def serialize(self) -> dict[str, Any]:
        """Kong's log serializer (kong.log.serialize) for this request."""
        return serializer.serialize(self)

    def serialize_value(self, key: str, value: Any, mode: str) -> None:
        self.serialize_values.append((key, value, mode))

    # -- what the exchange reports for the serializer (requests plugins see only) ----------

    def balancing(self) -> None:
        """The balancer picks a peer for a try (the first, or a retry)."""
        tries = self.balancer_tries
        if tries is None:
            tries = self.balancer_tries = serializer.BalancerTries()
        tries.picking(self.exchange.conn.loop.time())

    def connecting(self, address: str, port: int) -> None:
        """The pick of this try: the address connected to (or taken from the pool)."""
        tries = self.balancer_tries
        if tries is None:
            tries = self.balancer_tries = serializer.BalancerTries()
        tries.picked(address, port, self.exchange.conn.loop.time())

    def try_failed(self, status: int) -> None:
        """The try could not connect (502) or timed out connecting (504)."""
        if self.balancer_tries is not None:
            self.balancer_tries.failed(status)

    def upstream_answered(self, status: int, at: float) -> None:
        """The upstream's response head came (``at``: the loop time of the read that brought it)."""
        self.t_head = at
        if self.balancer_tries is not None:
            self.balancer_tries.statuses.append(status)

    def serialize_for(self) -> Any:
        """``kong.log.serialize`` for the current plugin: kong-pdk plugins get a JSON string,
        as Kong's plugin server hands them."""
        out = self.serialize()
        if self.current is not None and self.current.spec.source == "kong-pdk":
            return orjson.dumps(out, default=str).decode()
        return out
