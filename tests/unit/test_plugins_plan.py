"""Kong's plugin scoping, as `PluginPlans` compiles it and `Slot.resolve` answers it: the eight
levels of kong/runloop/plugins_iterator.lua in order, first match wins, one config per plugin
name; which routes a plugin may see; and Kong's run order (priority, then name, descending)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from dataplane.plugins import PluginError, PluginPlans, PluginSpec, Registry
from dataplane.schema import Field

R, S, C = "route-1", "service-1", "consumer-1"
# Kong's precedence, highest first: (route, service, consumer) of the config that wins
LEVELS = [(R, S, C), (R, None, C), (None, S, C), (R, S, None), (None, None, C), (R, None, None), (None, S, None),
          (None, None, None)]


class Recorder:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def access(self, kong: Any) -> None:
        pass


def spec(name: str, priority: int) -> PluginSpec:
    return PluginSpec(name=name, version="1.0.0", priority=priority, factory=Recorder, phases=frozenset({"access"}),
                      config=Field("record", fields=None))


def entity(name: str, scope: tuple[str | None, str | None, str | None], **extra: Any) -> dict[str, Any]:
    route, service, consumer = scope
    ref = lambda value: {"id": value} if value else None  # noqa: E731 - a one-line helper
    return {"id": f"{name}-{scope}", "name": name, "route": ref(route), "service": ref(service),
            "consumer": ref(consumer), "enabled": True, "protocols": ["http", "https"], "config": {"level": scope},
            **extra}


REGISTRY = Registry([spec("p", 10), spec("a", 5), spec("b", 5), spec("z", 100)])


@pytest.mark.parametrize("present", [combo for n in range(1, 9) for combo in itertools.combinations(LEVELS, n)][::7])
def test_the_highest_level_present_wins(present):
    plans = PluginPlans.build([entity("p", scope) for scope in present], REGISTRY)
    (slot,) = plans.for_route(R, S)
    winner = slot.resolve(R, S, C)
    assert winner is not None and winner.instance.config["level"] == next(lvl for lvl in LEVELS if lvl in present)
    # before a consumer is known, only the levels without one count
    unknown = [lvl for lvl in LEVELS if lvl[2] is None and lvl in present]
    resolved = slot.resolve(R, S, None)
    assert (resolved.instance.config["level"] if resolved else None) == (unknown[0] if unknown else None)


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
