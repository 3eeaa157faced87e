"""``headers`` and ``headers_upstream``: which X-Kong-* (and Via/Server) headers Gantry adds."""

from . import types

VIA = "Via"
SERVER = "Server"
PROXY_LATENCY = "X-Kong-Proxy-Latency"
RESPONSE_LATENCY = "X-Kong-Response-Latency"
ADMIN_LATENCY = "X-Kong-Admin-Latency"
UPSTREAM_LATENCY = "X-Kong-Upstream-Latency"
UPSTREAM_STATUS = "X-Kong-Upstream-Status"
REQUEST_ID = "X-Kong-Request-Id"

# Each accepted token (compared lower-cased) and the header names it turns on.
_DOWNSTREAM: dict[str, tuple[str, ...]] = {
    "server_tokens": (VIA, SERVER),
    "latency_tokens": (PROXY_LATENCY, RESPONSE_LATENCY, ADMIN_LATENCY, UPSTREAM_LATENCY),
    **{
        name.lower(): (name,)
        for name in (
            VIA,
            SERVER,
            PROXY_LATENCY,
            RESPONSE_LATENCY,
            ADMIN_LATENCY,
            UPSTREAM_LATENCY,
            UPSTREAM_STATUS,
            REQUEST_ID,
        )
    },
}
_UPSTREAM: dict[str, tuple[str, ...]] = {REQUEST_ID.lower(): (REQUEST_ID,)}


def _parse(value: str, known: dict[str, tuple[str, ...]]) -> frozenset[str]:
    tokens = types.split_list(value)
    bad = [token for token in tokens if token != "off" and token.lower() not in known]
    if bad:
        raise ValueError(", ".join(f"invalid entry '{token}'" for token in bad))
    if not tokens or tokens[0] == "off":
        return frozenset()
    return frozenset(name for token in tokens if token != "off" for name in known[token.lower()])


def parse_headers(value: str) -> frozenset[str]:
    """The response header names to add; ``off`` first turns them all off, as in Kong."""
    return _parse(value, _DOWNSTREAM)


def parse_headers_upstream(value: str) -> frozenset[str]:
    """The request header names to add towards the upstream."""
    return _parse(value, _UPSTREAM)
