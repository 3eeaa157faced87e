"""Kong's plugin scoping, as `PluginPlans` compiles it and `Slot.resolve` answers it: the twelve
levels (kong/runloop/plugins_iterator.lua's eight and Kong Enterprise's consumer-group levels)
in order, first match wins, one config per plugin name; which routes a plugin may see; and
Kong's run order (priority, then name, descending)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from dataplane.plugins import PluginError, PluginPlans, PluginSpec, Registry
from dataplane.schema import Field

R, S, C, G = "route-1", "service-1", "consumer-1", "group-1"
# Kong's precedence, highest first: (route, service, consumer, consumer group) of the config
# that wins
LEVELS = [(R, S, C, None), (R, S, None, G), (R, None, C, None), (None, S, C, None), (R, None, None, G),
          (None, S, None, G), (R, S, None, None), (None, None, C, None), (None, None, None, G),
          (R, None, None, None), (None, S, None, None), (None, None, None, None)]


class Recorder:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def access(self, kong: Any) -> None:
        pass


def spec(name: str, priority: int) -> PluginSpec:
    return PluginSpec(name=name, version="1.0.0", priority=priority, factory=Recorder, phases=frozenset({"access"}),
                      config=Field("record", fields=None))


def entity(name: str, scope: tuple[str | None, ...], **extra: Any) -> dict[str, Any]:
    scope = (*scope, None, None, None, None)[:4]
    route, service, consumer, group = scope
    ref = lambda value: {"id": value} if value else None  # noqa: E731 - a one-line helper
    return {"id": f"{name}-{scope}", "name": name, "route": ref(route), "service": ref(service),
            "consumer": ref(consumer), "consumer_group": ref(group), "enabled": True,
            "protocols": ["http", "https"], "config": {"level": scope}, **extra}


REGISTRY = Registry([spec("p", 10), spec("a", 5), spec("b", 5), spec("z", 100)])


@pytest.mark.parametrize("present", [combo for n in range(1, 13) for combo in itertools.combinations(LEVELS, n)][::97])
def test_the_highest_level_present_wins(present):
    plans = PluginPlans.build([entity("p", scope) for scope in present], REGISTRY)
    (slot,) = plans.for_route(R, S)
    winner = slot.resolve(R, S, C, (G,))
    assert winner is not None and winner.instance.config["level"] == next(lvl for lvl in LEVELS if lvl in present)
    # before a consumer is known, only the levels without a consumer or group count
    unknown = [lvl for lvl in LEVELS if lvl[2] is None and lvl[3] is None and lvl in present]
    resolved = slot.resolve(R, S, None)
    assert (resolved.instance.config["level"] if resolved else None) == (unknown[0] if unknown else None)
    # a consumer in no group: the group levels do not count
    outside = [lvl for lvl in LEVELS if lvl[3] is None and lvl in present]
    resolved = slot.resolve(R, S, C)
    assert (resolved.instance.config["level"] if resolved else None) == (outside[0] if outside else None)


def test_each_level_beats_the_next():
    for higher, lower in itertools.pairwise(LEVELS):
        plans = PluginPlans.build([entity("p", lower), entity("p", higher)], REGISTRY)
        (slot,) = plans.for_route(R, S)
        assert slot.resolve(R, S, C, (G,)).instance.config["level"] == higher


def test_a_consumer_in_several_groups_gets_the_first_group_by_name_at_each_level():
    # `groups` comes sorted by group name (Identities.consumer_groups): "group-0" sorts first
    plans = PluginPlans.build([entity("p", (None, None, None, "group-0")), entity("p", (None, None, None, G)),
                               entity("p", (R, None, None, G))], REGISTRY)
    (slot,) = plans.for_route(R, S)
    # a higher level of the second group still beats a lower level of the first
    assert slot.resolve(R, S, C, ("group-0", G)).instance.config["level"] == (R, None, None, G)
    plans = PluginPlans.build([entity("p", (None, None, None, "group-0")), entity("p", (None, None, None, G))],
                              REGISTRY)
    (slot,) = plans.for_route(R, S)
    assert slot.resolve(R, S, C, ("group-0", G)).instance.config["level"] == (None, None, None, "group-0")
    assert slot.resolve(R, S, C, (G,)).instance.config["level"] == (None, None, None, G)
    assert slot.resolve(R, S, C, ()) is None


def test_configs_of_other_routes_services_and_consumers_never_apply():
    plans = PluginPlans.build([entity("p", ("other-route", None, None)), entity("p", (None, "other", None)),
                               entity("p", (None, None, "someone-else"))], REGISTRY)
    assert plans.for_route(R, S) == () or all(s.resolve(R, S, C) is None for s in plans.for_route(R, S))
    assert plans.unplanned == {"other-route", "other"}


def test_disabled_and_non_http_plugins_do_not_count():
    plans = PluginPlans.build([entity("p", (R, None, None), enabled=False),
                               entity("p", (R, None, None), protocols=["grpc"])], REGISTRY)
    assert plans is None


def test_a_version_with_a_plugin_not_run_is_refused():
    # its route would run unprotected: the worker keeps the version it serves instead
    with pytest.raises(PluginError, match="not enabled on this node: not-here; add them to the 'plugins'"):
        PluginPlans.build([entity("not-here", (R, None, None))], REGISTRY)
    # a disabled one never runs: no gap
    assert PluginPlans.build([entity("not-here", (R, None, None), enabled=False)], REGISTRY) is None


def test_order_is_priority_then_name_descending():
    plans = PluginPlans.build([entity(name, (None, None, None)) for name in ("a", "b", "p", "z")], REGISTRY)
    assert [slot.spec.name for slot in plans.for_route(R, S)] == ["z", "p", "b", "a"]
    assert [slot.spec.name for slot in plans.global_slots] == ["z", "p", "b", "a"]


def order(*entities: dict[str, Any]) -> list[str]:
    return [slot.spec.name for slot in PluginPlans.build(list(entities), REGISTRY).for_route(R, S)]


def rules(before: list[str] | None = None, after: list[str] | None = None) -> dict[str, Any]:
    ordering: dict[str, Any] = {}
    if before:
        ordering["before"] = {"access": before}
    if after:
        ordering["after"] = {"access": after}
    return {"ordering": ordering}


GLOBAL = (None, None, None)


def test_dynamic_ordering_moves_a_plugin_before_or_after_another():
    plain = [entity(name, GLOBAL) for name in ("z", "p", "b")]
    assert order(*plain) == ["z", "p", "b"]
    # b before z: z depends on b, so b is placed first when z is visited
    assert order(entity("z", GLOBAL), entity("p", GLOBAL), entity("b", GLOBAL, **rules(before=["z"]))) == ["b", "z", "p"]
    # z after p: the same edge written on the other plugin
    assert order(entity("z", GLOBAL, **rules(after=["p"])), entity("p", GLOBAL), entity("b", GLOBAL)) == ["p", "z", "b"]


def test_a_dependency_chain_is_placed_before_the_plugin_that_needs_it():
    # z after a, a after b: visiting z places b, then a, then z; p keeps its place after them
    chain = order(entity("z", GLOBAL, **rules(after=["a"])), entity("p", GLOBAL),
                  entity("a", GLOBAL, **rules(after=["b"])), entity("b", GLOBAL))
    assert chain == ["b", "a", "z", "p"]


def test_rules_naming_absent_plugins_and_cycles_are_ignored_not_fatal():
    assert order(entity("z", GLOBAL, **rules(after=["nowhere"])), entity("p", GLOBAL)) == ["z", "p"]
    cyclic = order(entity("z", GLOBAL, **rules(after=["p"])), entity("p", GLOBAL, **rules(after=["z"])))
    assert sorted(cyclic) == ["p", "z"]


def test_the_rules_of_the_config_that_applies_to_the_route_count():
    here = entity("b", (R, None, None), **rules(before=["z"]))
    elsewhere = entity("b", ("other-route", None, None))
    assert order(entity("z", GLOBAL), here, elsewhere) == ["b", "z"]
    assert order(entity("z", GLOBAL), entity("b", (R, None, None)), entity("b", GLOBAL, **rules(before=["z"]))) == [
        "z", "b"]


def test_a_consumer_scoped_config_cannot_carry_an_ordering():
    from dataplane.schema import process

    ordering = {"before": {"access": ["key-auth"]}}
    consumer = {"id": "6a1b9c0e-0000-4000-8000-000000000001"}
    _, errors = process("plugins", {"name": "response-transformer", "consumer": consumer, "ordering": ordering})
    assert errors == {"@entity": [
        "a plugin scoped to a consumer cannot set a dynamic ordering (it is decided before the consumer is known)"]}
    _, errors = process("plugins", {"name": "response-transformer", "ordering": ordering})
    assert errors is None
