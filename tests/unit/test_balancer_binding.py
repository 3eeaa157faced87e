"""Balancer through the native binding: the shapes Python sees, and errors as CoreError."""

import orjson
import pytest

from dataplane._core import Balancer, CoreError

UPSTREAM = orjson.dumps({"id": "u1", "name": "backend", "algorithm": "round-robin"})


def target(tid, address, weight=100, created_at=1):
    return orjson.dumps({"id": tid, "target": address, "weight": weight,
                         "upstream": {"id": "u1"}, "created_at": created_at})


def test_name_and_algorithm():
    b = Balancer.from_json(UPSTREAM, [])
    assert (b.name, b.algorithm) == ("backend", "round-robin")


def test_weights_interleave_two_to_one():
    b = Balancer.from_json(UPSTREAM, [target("1", "a:80", 100, 1), target("2", "b:81", 50, 2)])
    picks = [b.pick() for _ in range(6)]
    assert picks == [("a", 80), ("b", 81), ("a", 80), ("a", 80), ("b", 81), ("a", 80)]


def test_exact_distribution_over_many_cycles():
    b = Balancer.from_json(UPSTREAM, [target("1", "a", 3, 1), target("2", "b", 2, 2), target("3", "c", 1, 3)])
    picks = [b.pick()[0] for _ in range(600)]
    assert (picks.count("a"), picks.count("b"), picks.count("c")) == (300, 200, 100)


def test_weight_zero_is_listed_but_never_picked():
    b = Balancer.from_json(UPSTREAM, [target("1", "a:1", 10, 1), target("2", "b:2", 0, 2)])
    assert {b.pick() for _ in range(10)} == {("a", 1)}
    assert b.targets() == [("a", 1, 10), ("b", 2, 0)]


def test_all_zero_or_no_targets_pick_none():
    assert Balancer.from_json(UPSTREAM, [target("1", "a:1", 0)]).pick() is None
    assert Balancer.from_json(UPSTREAM, []).pick() is None


def test_default_port_and_ipv6():
    b = Balancer.from_json(UPSTREAM, [target("1", "example.com", 1, 1), target("2", "[::1]:9000", 1, 2),
                                      target("3", "[fe80::1]", 1, 3)])
    assert b.targets() == [("example.com", 8000, 1), ("::1", 9000, 1), ("fe80::1", 8000, 1)]


def test_latest_target_for_an_address_wins():
    b = Balancer.from_json(UPSTREAM, [target("2", "a:8000", 0, 5), target("1", "a", 100, 1)])
    assert b.targets() == [("a", 8000, 0)]
    assert b.pick() is None


def upstream(algorithm, **fields):
    return orjson.dumps({"id": "u1", "name": "x", "algorithm": algorithm, **fields})


def test_consistent_hashing_keeps_a_value_on_one_target_and_retries_elsewhere():
    b = Balancer.from_json(upstream("consistent-hashing"), [target("1", "a:1", 1, 1), target("2", "b:1", 1, 2)])
    assert b.algorithm == "consistent-hashing" and b.live == 2
    seen = {}
    for key in range(200):
        value = b"user-%d" % key
        slot, host, port = b.peer(value)
        assert b.peer(value) == (slot, host, port)
        assert b.address(slot) == (host, port)
        seen[host] = seen.get(host, 0) + 1
        other = b.peer(value, [slot])
        assert other is not None and other[0] != slot
        assert b.peer(value, [0, 1]) is None
    assert seen["a"] > 50 and seen["b"] > 50, seen


def test_least_connections_counts_until_release():
    b = Balancer.from_json(upstream("least-connections"), [target("1", "a:1", 1, 1), target("2", "b:1", 1, 2)])
    held, _, _ = b.peer()
    assert b.in_flight(held) == 1
    for _ in range(4):
        slot, _, _ = b.peer()
        assert slot != held
        b.release(slot)
    b.release(held)
    assert b.in_flight(held) == 0


def test_latency_prefers_the_fastest_and_inherits_across_configs():
    targets = [target("1", "a:1", 1, 1), target("2", "b:1", 1, 2)]
    b = Balancer.from_json(upstream("latency"), targets)
    b.release(0, 0.5)
    b.release(1, 0.001)
    assert {b.peer()[1] for _ in range(5)} == {"b"}
    fresh = Balancer.from_json(upstream("latency"), targets)
    fresh.inherit(b)
    assert {fresh.peer()[1] for _ in range(5)} == {"b"}


def test_what_is_not_run_is_refused():
    with pytest.raises(CoreError, match="algorithm"):
        Balancer.from_json(upstream("random"), [])
    with pytest.raises(CoreError, match=r"healthchecks\.active\.type: grpc probes are not run"):
        grpc = {"active": {"type": "grpc", "unhealthy": {"interval": 1}}}
        Balancer.from_json(upstream("round-robin", healthchecks=grpc), [])
    https = {"active": {"type": "https", "unhealthy": {"interval": 1}}}
    assert Balancer.from_json(upstream("round-robin", healthchecks=https), []).checks_health
    active = Balancer.from_json(upstream("round-robin", healthchecks={"active": {"unhealthy": {"interval": 1}}}), [])
    assert active.checks_health
    with pytest.raises(CoreError, match="use_srv_name"):
        Balancer.from_json(upstream("round-robin", use_srv_name=True), [])
    many = [target(str(i), f"10.0.0.{i}:80", 100, i) for i in range(1, 101)]
    with pytest.raises(CoreError, match="raise the upstream's slots"):
        Balancer.from_json(upstream("consistent-hashing", slots=10000), many)
    assert Balancer.from_json(upstream("consistent-hashing", slots=65536), many).live == 100


@pytest.mark.parametrize("bad", ["a:99999", "a:", "[::1", "a b"])
def test_bad_target_raises_core_error_naming_it(bad):
    with pytest.raises(CoreError, match="target"):
        Balancer.from_json(UPSTREAM, [target("1", bad)])


def test_bad_json_raises_core_error():
    with pytest.raises(CoreError, match="upstream"):
        Balancer.from_json(b"{", [])
    with pytest.raises(CoreError, match=r"targets\[0\]"):
        Balancer.from_json(UPSTREAM, [b'{"id": "t"}'])


def test_passive_health_through_the_binding():
    checks = {"passive": {"unhealthy": {"http_failures": 1, "timeouts": 1}, "healthy": {"successes": 1}}}
    targets = [target("1", "a:1", 1, 1), target("2", "b:1", 1, 2)]
    b = Balancer.from_json(upstream("round-robin", id="binding-passive", healthchecks=checks), targets)
    assert b.checks_health and b.target_health() == [("a", 1, True), ("b", 1, True)]
    b.release(0, None, 404)  # in neither list: nothing
    assert b.target_health()[0][2] is True
    b.release(0, 0.01, 500)
    assert b.target_health() == [("a", 1, False), ("b", 1, True)]
    assert {b.peer()[1] for _ in range(4)} == {"b"}
    b.release(1, None, -2)  # a timeout
    assert b.peer() is None and b.pick() is None and not b.healthy
    b.release(0, None, 200)
    assert b.peer()[1] == "a"
    assert not Balancer.from_json(upstream("round-robin"), targets).checks_health
    assert Balancer.from_json(upstream("round-robin"), targets).target_health() == []
