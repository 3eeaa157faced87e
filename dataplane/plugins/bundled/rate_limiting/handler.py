"""rate-limiting's phases: the identifier, the windows, the policy's count, then Kong's
headers and answer (kong/plugins/rate-limiting/handler.lua)."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

from redis import RedisError

from dataplane import shared_memory
from dataplane._core import SharedMemoryError
from dataplane.schema.messages import fmt_number

from . import local, redis_policy, redis_sync
from .schema import SYNC_RATE_REALTIME
from .windows import EXPIRATION, PERIODS, Window, reset_after, windows_for

RATELIMIT_LIMIT = "RateLimit-Limit"
RATELIMIT_REMAINING = "RateLimit-Remaining"
RATELIMIT_RESET = "RateLimit-Reset"
RETRY_AFTER = "Retry-After"
X_LIMIT = {period: f"X-RateLimit-Limit-{period.capitalize()}" for period in PERIODS}
X_REMAINING = {period: f"X-RateLimit-Remaining-{period.capitalize()}" for period in PERIODS}


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.limits = tuple((period, config[period]) for period in PERIODS if config.get(period) is not None)
        self.limit_by = config.get("limit_by") or "consumer"
        self.header_name = config.get("header_name")
        self.path = config.get("path")
        self.fault_tolerant = config.get("fault_tolerant", True)
        self.hide = bool(config.get("hide_client_headers"))
        self.error_code = int(config.get("error_code") or 429)
        self.error_message = config.get("error_message")
        self.route_id = config.get("route_id")
        self.service_id = config.get("service_id")
        self.redis: dict[str, Any] | None = config.get("redis") if config.get("policy") == "redis" else None
        self.sync_rate = config.get("sync_rate", SYNC_RATE_REALTIME)
        # the instance whose syncs never overlap (Kong's __plugin_id)
        self.instance = config.get("__plugin_id") or id(self)

    def access(self, kong: Any) -> Coroutine[Any, Any, None] | None:
        now = int(time.time())
        windows = windows_for(self.limits, self.route_id, self.service_id, self._identifier(kong), now)
        if self.redis is not None:
            return self._access_redis(kong, windows, now)
        try:
            usage, stop = local.count(shared_memory.rate_limiting_counters(), windows, now)
        except SharedMemoryError as err:
            self._failed(kong, err)
            return None
        self._answer(kong, windows, usage, stop, now)
        return None

    async def _access_redis(self, kong: Any, windows: list[Window], now: int) -> None:
        assert self.redis is not None
        batched = self.sync_rate != SYNC_RATE_REALTIME
        try:
            if batched:
                usage = await redis_sync.usage(self.redis, windows, now)
            else:
                usage = await redis_policy.count(self.redis, windows)
        except (RedisError, OSError) as err:
            self._failed(kong, err)
            return
        stop = None
        for window in windows:
            if window.limit - usage[window.period] <= 0:
                stop = window.period
        self._answer(kong, windows, usage, stop, now)
        if batched and stop is None:
            redis_sync.increment(self.redis, windows, self.instance, self.sync_rate)

    def _identifier(self, kong: Any) -> str:
        """Kong's get_identifier: what ``limit_by`` names, else the client's address."""
        found: Any = None
        limit_by = self.limit_by
        if limit_by == "service":
            found = (kong.router.get_service() or {}).get("id")
        elif limit_by == "consumer":
            found = (kong.client.get_consumer() or kong.client.get_credential() or {}).get("id")
        elif limit_by == "credential":
            found = (kong.client.get_credential() or {}).get("id")
        elif limit_by == "header":
            found = kong.request.get_header(self.header_name)
        elif limit_by == "path":
            path = kong.request.get_path()
            found = path if path == self.path else None
        return str(found) if found else kong.client.get_forwarded_ip()

    def _failed(self, kong: Any, err: Exception) -> None:
        """Kong's answer when the counters cannot be used: proxy uncounted (fault_tolerant),
        else its 500."""
        if self.fault_tolerant:
            kong.log.err("failed to get usage, the request is not rate-limited (fault_tolerant): ", err)
            return
        kong.log.err("failed to get usage, answering 500 (fault_tolerant is false): ", err)
        kong.response.error(500)

    def _answer(self, kong: Any, windows: list[Window], usage: dict[str, float], stop: str | None, now: int) -> None:
        """Kong's headers, and its refusal when a period's limit is reached. The RateLimit-*
        headers describe the period with the fewest requests left (of two, the longer one)."""
        reset = 0
        if not self.hide:
            limit = remaining = length = None
            headers: dict[str, str] = {}
            for window in windows:
                period = window.period
                left = window.limit - usage[period]
                if stop is None or stop == period:
                    left -= 1  # this request
                left = max(0, left)
                if (
                    limit is None
                    or remaining is None
                    or length is None
                    or left < remaining
                    or (left == remaining and EXPIRATION[period] > length)
                ):
                    limit, remaining, length = window.limit, left, EXPIRATION[period]
                    reset = reset_after(period, window.start, now)
                headers[X_LIMIT[period]] = fmt_number(window.limit)
                headers[X_REMAINING[period]] = fmt_number(left)
            if limit is not None and remaining is not None:
                headers[RATELIMIT_LIMIT] = fmt_number(limit)
                headers[RATELIMIT_REMAINING] = fmt_number(remaining)
                headers[RATELIMIT_RESET] = str(reset)
            if stop is not None:
                headers[RETRY_AFTER] = str(reset)
            kong.response.set_headers(headers)
        if stop is not None:
            kong.response.error(self.error_code, self.error_message)
