"""rate-limiting's config schema: Kong 3.x's fields, defaults and messages (its
kong/plugins/rate-limiting/schema.lua with kong/tools/redis/schema.lua), as a DB-less node and
a hybrid control plane see it: ``cluster`` is not among the policies (a data plane has no
database to count in), so Kong's ``one_of`` message is the refusal.

Kong's checks on the plugin entity (at least one limit, the fields a ``limit_by`` or the
``redis`` policy needs) are checks of the config record here, with Kong's words.
"""

from __future__ import annotations

from typing import Any

from dataplane.schema import Field, messages as M, typedefs as t
from dataplane.schema.checks import Conditional, Custom
from dataplane.schema.fields import Shorthand, record

from .windows import PERIODS

SYNC_RATE_REALTIME = -1
POLICIES = ("local", "redis")
LIMIT_BY = ("consumer", "credential", "ip", "service", "header", "path")

AT_LEAST_ONE = "at least one of these fields must be non-empty: " + M.quoted_list([f"config.{p}" for p in PERIODS])
SYNC_RATE_NOT_REDIS = "sync_rate can only be used with the redis policy"
SYNC_RATE_TOO_LOW = "sync_rate must be greater than 0.02, or -1 to disable"


def _positive(value: float) -> str | None:
    return None if value > 0 else M.GT.format(0)


def _limit(period: str) -> tuple[str, Field]:
    return period, Field(
        "number", custom_validator=_positive, description=f"The number of HTTP requests that can be made per {period}."
    )


def _any_limit(config: dict[str, Any]) -> str | None:
    return None if any(config.get(p) is not None for p in PERIODS) else AT_LEAST_ONE


def _check_config(config: dict[str, Any]) -> Any:
    """Kong's custom_validator of the config (periods in order, sync_rate), then the redis
    fields its entity checks require with the redis policy: a message, or nested errors."""
    for i, lower in enumerate(PERIODS):
        low = config.get(lower)
        if low is None:
            continue
        for upper in PERIODS[i + 1 :]:
            high = config.get(upper)
            if high is not None and high < low:
                return f"The limit for {upper}({high:.1f}) cannot be lower than the limit for {lower}({low:.1f})"
    policy, sync_rate = config.get("policy"), config.get("sync_rate", SYNC_RATE_REALTIME)
    if policy != "redis" and sync_rate != SYNC_RATE_REALTIME:
        return SYNC_RATE_NOT_REDIS
    if policy == "redis" and sync_rate != SYNC_RATE_REALTIME and sync_rate < 0.02:
        return SYNC_RATE_TOO_LOW
    if policy == "redis":
        redis = config.get("redis") or {}
        missing = {name: M.REQUIRED for name in ("host", "port", "timeout") if redis.get(name) is None}
        if missing:
            return {"redis": missing}
    return None


REDIS_DEFAULTS: dict[str, Any] = {
    "host": None,
    "port": 6379,
    "timeout": 2000,
    "username": None,
    "password": None,
    "database": 0,
    "ssl": False,
    "ssl_verify": False,
    "server_name": None,
}

Redis = record(
    ("host", t.host),
    ("port", t.port(default=6379)),
    ("timeout", t.timeout(default=2000)),
    ("username", Field("string")),
    ("password", Field("string", len_min=0)),
    ("database", Field("integer", default=0)),
    ("ssl", Field("boolean", default=False)),
    ("ssl_verify", Field("boolean", default=False)),
    ("server_name", t.sni),
    default=REDIS_DEFAULTS,
    description="Redis configuration",
)


def _redis_shorthand(name: str, field: Field) -> Shorthand:
    """Kong's deprecated ``redis_<name>``, standing for ``redis.<name>``."""
    return Shorthand(f"redis_{name}", field, lambda value: {"redis": {name: value}})


Schema = record(
    *(_limit(period) for period in PERIODS),
    ("limit_by", Field("string", default="consumer", one_of=LIMIT_BY)),
    ("header_name", t.header_name),
    ("path", t.path),
    ("policy", Field("string", default="local", len_min=0, one_of=POLICIES)),
    ("fault_tolerant", Field("boolean", required=True, default=True)),
    ("redis", Redis),
    ("hide_client_headers", Field("boolean", required=True, default=False)),
    ("error_code", Field("number", default=429, custom_validator=_positive)),
    ("error_message", Field("string", default="API rate limit exceeded")),
    ("sync_rate", Field("number", required=True, default=SYNC_RATE_REALTIME)),
    required=True,
    custom_validator=_check_config,
    entity_checks=(
        Custom(PERIODS, _any_limit),
        Conditional("limit_by", {"one_of": ("header",)}, "header_name", {"required": True}),
        Conditional("limit_by", {"one_of": ("path",)}, "path", {"required": True}),
    ),
    shorthands=(
        _redis_shorthand("host", Field("string")),
        _redis_shorthand("port", Field("integer")),
        _redis_shorthand("password", Field("string", len_min=0)),
        _redis_shorthand("username", Field("string")),
        _redis_shorthand("ssl", Field("boolean")),
        _redis_shorthand("ssl_verify", Field("boolean")),
        _redis_shorthand("server_name", Field("string")),
        _redis_shorthand("timeout", Field("integer")),
        _redis_shorthand("database", Field("integer")),
    ),
)
