"""What plugins apply to what, for one config version: compiled when the version is, read by
every request of a route that has any.

Kong's precedence (kong/runloop/plugins_iterator.lua, and the consumer-group levels Kong
Gateway 3.4+ documents), first match wins, one config per plugin name per request:
consumer+route+service, consumer group+route+service, consumer+route, consumer+service,
consumer group+route, consumer group+service, route+service, consumer, consumer group, route,
service, global. Consumer- and group-scoped configs count once a plugin has authenticated the
consumer, so for plugins that run after it (lower priority). A consumer in several groups gets
the config of the group whose name sorts first, at each level (Kong documents the same rule).

Kong 3.x's dynamic ordering (a plugin entity's ``ordering.before.access`` and
``ordering.after.access``) changes the order of the access phase only, by Kong's default
("legacy") algorithm: plugins are visited by priority, each placed once everything it depends
on has been placed (``A before B`` and ``B after A`` both make B depend on A). The order is
fixed per route from the configs that do not name a consumer: the consumer is not known yet
when the access phase starts (so a consumer-scoped config cannot carry an ordering, which
validation refuses).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .registry import Registry
from .spec import PluginError, PluginSpec

Scope = tuple[str | None, str | None, str | None, str | None]  # route, service, consumer, consumer group ids
GLOBAL: Scope = (None, None, None, None)

HTTP_PROTOCOLS = frozenset(("http", "https"))
# A plan per (route, service) pair is kept; a config with more pairs than this starts over.
_PLAN_CACHE_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class Configured:
    """One enabled plugin entity, its plugin object built once with its config."""

    spec: PluginSpec
    entity: dict[str, Any]
    instance: Any  # what ``spec.factory`` made of the config


@dataclass(frozen=True, slots=True)
class Slot:
    """A plugin that may run on a route: its configs by scope, resolved per request."""

    spec: PluginSpec
    configs: dict[Scope, Configured]
    consumer_scoped: bool  # some config names a consumer
    group_scoped: bool  # some config names a consumer group

    def resolve(
        self, route: str | None, service: str | None, consumer: str | None, groups: tuple[str, ...] = ()
    ) -> Configured | None:
        """The config this request runs with. ``groups``: the consumer's groups by name, asked
        for only when ``group_scoped``."""
        get = self.configs.get
        if consumer is not None and (self.consumer_scoped or groups):
            for scope in _levels(route, service, consumer, groups):
                found = get(scope)
                if found is not None:
                    return found
            return None
        return (
            get((route, service, None, None))
            or get((route, None, None, None))
            or get((None, service, None, None))
            or get(GLOBAL)
        )


def _levels(route: str | None, service: str | None, consumer: str, groups: tuple[str, ...]) -> Iterator[Scope]:
    """The scopes a config may have for this request, in Kong's order of precedence."""
    yield route, service, consumer, None
    for group in groups:
        yield route, service, None, group
    yield route, None, consumer, None
    yield None, service, consumer, None
    for group in groups:
        yield route, None, None, group
    for group in groups:
        yield None, service, None, group
    yield route, service, None, None
    yield None, None, consumer, None
    for group in groups:
        yield None, None, None, group
    yield route, None, None, None
    yield None, service, None, None
    yield GLOBAL


class PluginPlans:
    """The plugins of one config version, by the routes they may apply to."""

    __slots__ = ("slots", "global_slots", "unplanned", "plans", "ordered")

    def __init__(self, slots: list[Slot], unplanned: frozenset[str], has_global: bool) -> None:
        self.slots = slots  # in Kong's order
        self.global_slots = [slot for slot in slots if GLOBAL in slot.configs] if has_global else []
        self.unplanned = unplanned  # route and service ids a plugin may see
        self.plans: dict[tuple[str | None, str | None], tuple[Slot, ...]] = {}
        # some config asks for a dynamic order of the access phase
        self.ordered = any(_rules(c.entity) != ((), ()) for slot in slots for c in slot.configs.values())

    @classmethod
    def build(cls, entities: Iterable[dict[str, Any]], registry: Registry) -> PluginPlans | None:
        """None when no enabled plugin of an http protocol is configured: the proxy then has no
        plugin work at all. Raises PluginError when an enabled one is not in `registry`: its
        routes would run without it, so the version must not be served (validation refuses
        such a config; this guards what was stored under another `plugins` setting)."""
        by_name: dict[str, dict[Scope, Configured]] = {}
        unplanned: set[str] = set()
        has_global = False
        not_run: set[str] = set()
        for entity in entities:
            if not entity.get("enabled", True) or not HTTP_PROTOCOLS.intersection(entity.get("protocols") or ()):
                continue
            spec = registry.get(entity["name"])
            if spec is None:
                not_run.add(entity["name"])
                continue
            scope = (
                _id(entity.get("route")),
                _id(entity.get("service")),
                _id(entity.get("consumer")),
                _id(entity.get("consumer_group")),
            )
            by_name.setdefault(spec.name, {})[scope] = Configured(spec, entity, spec.factory(_config(entity, scope)))
            route, service, _, _ = scope
            if route is not None:
                unplanned.add(route)
            if service is not None:
                unplanned.add(service)
            has_global |= scope == GLOBAL
        if not_run:
            raise PluginError(
                f"plugins configured but not enabled on this node: {', '.join(sorted(not_run))}; "
                "add them to the 'plugins' configuration property"
            )
        if not by_name:
            return None
        slots = [
            Slot(
                configs[next(iter(configs))].spec,
                configs,
                any(scope[2] for scope in configs),
                any(scope[3] for scope in configs),
            )
            for configs in by_name.values()
        ]
        slots.sort(key=lambda slot: slot.spec.sort_key())
        return cls(slots, frozenset(unplanned), has_global)

    def for_route(self, route: str | None, service: str | None) -> tuple[Slot, ...]:
        """The plugins that may run on requests of this route and service, in the order of
        their access phase (Kong's, changed by dynamic ordering when a config asks)."""
        key = (route, service)
        plan = self.plans.get(key)
        if plan is None:
            plan = tuple(slot for slot in self.slots if _may_apply(slot, route, service))
            if self.ordered:
                plan = _dynamic_order(plan, route, service)
            if len(self.plans) >= _PLAN_CACHE_LIMIT:
                self.plans.clear()
            self.plans[key] = plan
        return plan


def _rules(entity: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(before, after): the plugin names an entity's ordering names for the access phase."""
    ordering = entity.get("ordering") or {}
    before = (ordering.get("before") or {}).get("access") or ()
    after = (ordering.get("after") or {}).get("access") or ()
    return tuple(before), tuple(after)


def _dynamic_order(plan: tuple[Slot, ...], route: str | None, service: str | None) -> tuple[Slot, ...]:
    by_name = {slot.spec.name: slot for slot in plan}
    depends: dict[str, list[str]] = {name: [] for name in by_name}
    for slot in plan:
        configured = slot.resolve(route, service, None)
        if configured is None:
            continue
        before, after = _rules(configured.entity)
        name = slot.spec.name
        depends[name] += (other for other in after if other in by_name)
        for other in before:
            if other in by_name:
                depends[other].append(name)
    placed: list[Slot] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in visiting:
            return  # placed already, or a cycle: the rule closing it is not followed
        visiting.add(name)
        for other in sorted(depends[name], key=lambda n: by_name[n].spec.sort_key()):
            visit(other)
        visiting.discard(name)
        done.add(name)
        placed.append(by_name[name])

    for slot in plan:
        visit(slot.spec.name)
    return tuple(placed)


def _may_apply(slot: Slot, route: str | None, service: str | None) -> bool:
    return any((r is None or r == route) and (s is None or s == service) for r, s, _, _ in slot.configs)


def _id(reference: Any) -> str | None:
    return reference.get("id") if isinstance(reference, dict) else None


def _config(entity: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """The config a plugin object is built with: the entity's, plus the keys Kong adds
    (plugins_iterator.lua get_plugin_config)."""
    config = dict(entity.get("config") or {})
    config["route_id"], config["service_id"], config["consumer_id"], _ = scope
    config["__plugin_id"] = entity.get("id")
    config["plugin_instance_name"] = entity.get("instance_name")
    return config
