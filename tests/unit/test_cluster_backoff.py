"""Reconnect back-off: bounds, jitter, cap, reset."""

import random

from dataplane.cluster.backoff import Backoff


def test_ceiling_doubles_from_initial_to_cap():
    backoff = Backoff(initial=0.5, cap=30.0, rand=lambda: 1.0)
    delays = [backoff.next() for _ in range(10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_full_jitter_stays_between_zero_and_ceiling_and_varies():
    backoff = Backoff(initial=0.5, cap=30.0, rand=random.Random(7).random)
    seen = []
    for _ in range(200):
        ceiling = backoff.ceiling()
        delay = backoff.next()
        assert 0.0 <= delay <= ceiling <= 30.0
        seen.append(delay)
    assert len(set(seen)) > 150  # drawn, not fixed
    assert max(seen[20:]) > 15.0 and min(seen[20:]) < 15.0  # spread over the capped range


def test_zero_draw_is_an_immediate_retry():
    assert Backoff(rand=lambda: 0.0).next() == 0.0


def test_reset_starts_again_from_initial():
    backoff = Backoff(initial=0.5, cap=30.0, rand=lambda: 1.0)
    for _ in range(20):
        backoff.next()
    backoff.reset()
    assert backoff.next() == 0.5


def test_many_attempts_do_not_overflow():
    backoff = Backoff(rand=lambda: 1.0)
    backoff.attempt = 10_000
    assert backoff.next() == 30.0
