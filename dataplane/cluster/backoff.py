"""Reconnect delays: capped exponential back-off with full jitter.

Kong waits a fixed 5-10 s; after a control plane restart every data plane then comes back in
the same few seconds, and a long outage is retried as often as a blip. Here the ceiling doubles
from `initial` to `cap` and the delay is drawn uniformly below it, which spreads the fleet out.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    __slots__ = ("initial", "cap", "attempt", "_random")

    def __init__(self, initial: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.cap = cap
        self.attempt = 0
        self._random = rand

    def ceiling(self) -> float:
        """The largest delay the next call may return."""
        # min() on the exponent first: 2 ** attempt must not grow without bound
        return min(self.cap, self.initial * 2 ** min(self.attempt, 64))

    def next(self) -> float:
        delay = self._random() * self.ceiling()
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
