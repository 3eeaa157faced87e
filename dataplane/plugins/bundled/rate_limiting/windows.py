"""The windows rate-limiting counts in: Kong's periods, each window starting at the UTC
second, minute, hour, day, first day of the month or first day of the year that holds the
request (Kong's kong.tools.timestamp.get_timestamps), with Kong's nominal lengths
(kong/plugins/rate-limiting/expiration.lua), which the reset headers and Redis keys' TTLs use.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

PERIODS = ("second", "minute", "hour", "day", "month", "year")

# Kong's lengths: a month is 30 days and a year 365, whatever the calendar says
EXPIRATION = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 2592000,
    "year": 31536000,
}


# Every request of a second asks for the same windows: computed once per second (callers only
# read the dict)
@lru_cache(maxsize=4)
def window_starts(now: int) -> dict[str, int]:
    """The start of each period's window holding ``now`` (unix seconds), in unix seconds."""
    tm = time.gmtime(now)
    day = now - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec)
    return {
        "second": now,
        "minute": now - tm.tm_sec,
        "hour": now - (tm.tm_min * 60 + tm.tm_sec),
        "day": day,
        "month": calendar.timegm((tm.tm_year, tm.tm_mon, 1, 0, 0, 0)),
        "year": calendar.timegm((tm.tm_year, 1, 1, 0, 0, 0)),
    }


@lru_cache(maxsize=64)
def window_end(period: str, start: int) -> int:
    """When the window starting at ``start`` ends (unix seconds): the next calendar month or
    year for those, so that a counter lives exactly as long as its window."""
    if period == "month":
        tm = time.gmtime(start)
        year, month = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0))
    if period == "year":
        return calendar.timegm((time.gmtime(start).tm_year + 1, 1, 1, 0, 0, 0))
    return start + EXPIRATION[period]


def reset_after(period: str, start: int, now: int) -> int:
    """Kong's RateLimit-Reset for a period: the seconds left of its nominal length, at least 1."""
    return max(1, EXPIRATION[period] - (now - start))


@dataclass(frozen=True, slots=True)
class Window:
    """One configured period's window for one request."""

    period: str
    limit: float
    key: str  # Kong's counter key (``ratelimit:<route>:<service>:<identifier>:<start ms>:<period>``)
    start: int  # unix seconds
    expires_at: int  # when the window ends, unix seconds


# a plugin configured on no route (or no service) counts under the nil UUID there, as Kong's keys
NO_ID = "00000000-0000-0000-0000-000000000000"


def windows_for(
    limits: Sequence[tuple[str, float]], route_id: str | None, service_id: str | None, identifier: str, now: int
) -> list[Window]:
    """The windows of the configured ``(period, limit)`` pairs holding ``now``, keyed as Kong
    keys its counters (so the Redis policy shares keys with Kong nodes on the same Redis)."""
    return list(_windows(tuple(limits), route_id, service_id, identifier, now))


# A client's requests of one second count in the same windows: made once per second and
# identifier (bounded: identifiers come from requests)
@lru_cache(maxsize=1024)
def _windows(
    limits: tuple[tuple[str, float], ...], route_id: str | None, service_id: str | None, identifier: str, now: int
) -> tuple[Window, ...]:
    starts = window_starts(now)
    scope = f"ratelimit:{route_id or NO_ID}:{service_id or NO_ID}:{identifier}"
    return tuple(
        Window(
            period,
            limit,
            f"{scope}:{starts[period] * 1000}:{period}",
            starts[period],
            window_end(period, starts[period]),
        )
        for period, limit in limits
    )
