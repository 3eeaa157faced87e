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


def test_other_algorithms_are_kept_and_balanced_round_robin():
    upstream = orjson.dumps({"id": "u1", "name": "x", "algorithm": "consistent-hashing"})
    b = Balancer.from_json(upstream, [target("1", "a:1", 1, 1), target("2", "b:1", 1, 2)])
    assert b.algorithm == "consistent-hashing"
    assert [b.pick()[0] for _ in range(4)] == ["a", "b", "a", "b"]


@pytest.mark.parametrize("bad", ["a:99999", "a:", "[::1", "a b"])
def test_bad_target_raises_core_error_naming_it(bad):
    with pytest.raises(CoreError, match="target"):
        Balancer.from_json(UPSTREAM, [target("1", bad)])


def test_bad_json_raises_core_error():
    with pytest.raises(CoreError, match="upstream"):
        Balancer.from_json(b"{", [])
    with pytest.raises(CoreError, match=r"targets\[0\]"):
        Balancer.from_json(UPSTREAM, [b'{"id": "t"}'])
