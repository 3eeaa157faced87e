"""The ``local`` policy: counters in the node's shared memory (dataplane.shared_memory), which
every worker of the node counts into, as Kong's nginx shared dict.

Kong reads each period's count, answers, then adds the request in a timer, so two workers
may both let the last allowed request through. Here each period is counted by one atomic
check-and-add that refuses to pass the limit; when a later period refuses, the periods
already counted are taken back, so a refused request counts nowhere (as in Kong, which counts
only the requests it lets through).
"""

from __future__ import annotations

import math

from dataplane._core import SharedCounters

from .windows import Window

# the largest limit a counter takes (its count is 32 bits); a higher one never refuses sooner
_MOST = 2**32 - 1


def count(counters: SharedCounters, windows: list[Window], now: int) -> tuple[dict[str, float], str | None]:
    """Count the request in every window. Returns each period's usage before this request
    and the period that refused it (None when every period let it through). Raises
    SharedMemoryError, having taken back what it counted."""
    usage: dict[str, float] = {}
    counted: list[Window] = []
    try:
        for at, window in enumerate(windows):
            # Kong refuses once the usage reaches the limit: a limit of 2.5 lets 3 requests through
            most = min(math.ceil(window.limit), _MOST)
            allowed, value = counters.increment(window.key, 1, most, window.expires_at, now)
            if allowed:
                usage[window.period] = value - 1
                counted.append(window)
                continue
            usage[window.period] = value
            _take_back(counters, counted)
            for later in windows[at + 1 :]:
                usage[later.period] = counters.get(later.key, later.expires_at)
            return usage, window.period
    except BaseException:
        _take_back(counters, counted)
        raise
    return usage, None


def _take_back(counters: SharedCounters, counted: list[Window]) -> None:
    for window in counted:
        counters.decrement(window.key, 1, window.expires_at)
    counted.clear()
