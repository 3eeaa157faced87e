"""rate-limiting through the real `dataplane run` with 2 workers in front of an echo upstream,
after Kong's spec/03-plugins/23-rate-limiting/04-access_spec: the local policy counted exactly
across both workers (the node's shared counters), Kong's headers and 429, hide_client_headers,
error_code and error_message, the limit_by variants; the redis policy against real
redis-servers started here on loopback ports (database, password, an ACL user, TLS with SNI),
and fault_tolerant true and false once Redis is stopped."""

from __future__ import annotations

import json
import os
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import trustme

from tests.support.raw_client import raw_request
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

# Reports which worker answered (a global plugin, on every response, the 429s too).
WORKER_PID = """
import os

priority = 0
version = "1.0.0"
Schema = ()


class Plugin:
    def __init__(self, config):
        pass

    def header_filter(self, kong):
        kong.response.set_header("X-Worker-Pid", str(os.getpid()))
"""


def limited(route: str, route_path: str, **config: object) -> dict:
    return {"name": route, "paths": [route_path], "plugins": [{"name": "rate-limiting", "config": config}]}


def redis_conf(server: RedisServer, **extra: object) -> dict:
    return {"host": "127.0.0.1", "port": server.port, "timeout": 2000, **extra}


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("redis.test")
    tls_dir = tmp_path_factory.mktemp("redis-tls")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tls_dir / "server.pem"))
    ca.cert_pem.write_to_path(str(tls_dir / "ca.pem"))
    servers = {
        "plain": RedisServer(tmp_path_factory.mktemp("redis-plain")),
        "password": RedisServer(tmp_path_factory.mktemp("redis-password"), password="s3cret"),
        "user": RedisServer(tmp_path_factory.mktemp("redis-user"), user=("gantry", "pw-of-gantry")),
        "tls": RedisServer(
            tmp_path_factory.mktemp("redis-tls-server"), tls=(str(tls_dir / "server.pem"), str(tls_dir / "server.pem"))
        ),
        "doomed": RedisServer(tmp_path_factory.mktemp("redis-doomed")),
    }
    servers["tls"].ca = str(tls_dir / "ca.pem")
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream, redis_servers, tmp_path_factory):
    root = tmp_path_factory.mktemp("rate_limiting_plugins")
    (root / "worker_pid.py").write_text(WORKER_PID)
    r = redis_servers
    config = {
        "_format_version": "3.0",
        "plugins": [{"name": "worker-pid"}],
        "services": [
            {
                "name": "echo",
                "url": f"http://127.0.0.1:{module_upstream.port}",
                "routes": [
                    limited("local", "/local", minute=20, limit_by="ip"),
                    limited("periods", "/periods", minute=3, hour=10),
                    limited("hidden", "/hidden", minute=1, hide_client_headers=True),
                    limited("custom", "/custom", minute=1, error_code=503, error_message="slow down"),
                    limited("by-header", "/header", minute=1, limit_by="header", header_name="x-app"),
                    limited("by-path", "/path", minute=1, limit_by="path", path="/path/a"),
                    limited("redis", "/redis", minute=5, policy="redis", redis=redis_conf(r["plain"])),
                    limited(
                        "redis-db",
                        "/redis-db",
                        minute=2,
                        policy="redis",
                        redis=redis_conf(r["password"], password="s3cret", database=3),
                    ),
                    limited(
                        "redis-user",
                        "/redis-user",
                        minute=2,
                        policy="redis",
                        redis=redis_conf(r["user"], username="gantry", password="pw-of-gantry"),
                    ),
                    limited(
                        "redis-flat",
                        "/redis-flat",
                        minute=2,
                        policy="redis",
                        redis_host="127.0.0.1",
                        redis_port=r["password"].port,
                        redis_password="s3cret",
                        redis_database=5,
                    ),
                    limited(
                        "redis-tls",
                        "/redis-tls",
                        minute=2,
                        policy="redis",
                        redis=redis_conf(r["tls"], ssl=True, ssl_verify=True, server_name="redis.test"),
                    ),
                    limited(
                        "redis-wrong-password",
                        "/redis-wrong-password",
                        minute=2,
                        policy="redis",
                        fault_tolerant=False,
                        redis=redis_conf(r["password"], password="wrong"),
                    ),
                    limited(
                        "redis-down-tolerant",
                        "/redis-down-tolerant",
                        minute=2,
                        policy="redis",
                        redis=redis_conf(r["doomed"]),
                    ),
                    limited(
                        "redis-down-strict",
                        "/redis-down-strict",
                        minute=2,
                        policy="redis",
                        fault_tolerant=False,
                        redis=redis_conf(r["doomed"]),
                    ),
                ],
            },
            {
                "name": "by-service",
                "url": f"http://127.0.0.1:{module_upstream.port}",
                "plugins": [{"name": "rate-limiting", "config": {"minute": 2, "limit_by": "service"}}],
                "routes": [{"name": "svc-a", "paths": ["/svc-a"]}, {"name": "svc-b", "paths": ["/svc-b"]}],
            },
        ],
    }
    return module_gateway_factory(
        textwrap.dedent(json.dumps(config)),
        workers=2,
        conf={"plugins": "bundled,worker-pid", "lua_ssl_trusted_certificate": r["tls"].ca},
        env={"PYTHONPATH": str(root)},
    )


def get(gw, path: str, *headers: str):
    """One request on a connection of its own (so the kernel spreads them over both workers)."""
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())


def a_fresh_minute(needed: float = 10.0) -> None:
    """Counts are per UTC minute: a test counting to a limit must not straddle two, so it starts
    over once the minute has less than ``needed`` seconds left (a pause that is the point)."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.05)


def test_a_local_limit_is_counted_exactly_across_both_workers(gw):
    a_fresh_minute(20)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: get(gw, "/local"), range(40)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 20 + [429] * 20
    assert len({r.header("x-worker-pid") for r in responses}) == 2, "both workers answered"
    remaining = sorted(int(r.header("x-ratelimit-remaining-minute")) for r in responses if r.status == 200)
    assert remaining == list(range(20)), "each allowed request saw its own count"


def test_kongs_headers_and_refusal(gw):
    a_fresh_minute()
    first = get(gw, "/periods")
    assert first.status == 200
    assert (first.header("x-ratelimit-limit-minute"), first.header("x-ratelimit-remaining-minute")) == ("3", "2")
    assert (first.header("x-ratelimit-limit-hour"), first.header("x-ratelimit-remaining-hour")) == ("10", "9")
    assert (first.header("ratelimit-limit"), first.header("ratelimit-remaining")) == ("3", "2")
    assert 1 <= int(first.header("ratelimit-reset")) <= 60
    assert first.header("retry-after") is None
    get(gw, "/periods")
    get(gw, "/periods")
    refused = get(gw, "/periods", "Accept: application/json")
    assert refused.status == 429
    assert refused.json()["message"] == "API rate limit exceeded"
    assert refused.header("ratelimit-remaining") == "0" and refused.header("x-ratelimit-remaining-hour") == "7"
    assert refused.header("retry-after") == refused.header("ratelimit-reset")


def test_hide_client_headers(gw):
    a_fresh_minute()
    for status in (200, 429):
        response = get(gw, "/hidden")
        assert response.status == status
        names = [name.lower() for name, _ in response.headers]
        assert not [name for name in names if "ratelimit" in name or name == "retry-after"]


def test_error_code_and_message(gw):
    a_fresh_minute()
    assert get(gw, "/custom").status == 200
    refused = get(gw, "/custom", "Accept: application/json")
    assert refused.status == 503 and refused.json()["message"] == "slow down"


def test_limit_by_header_path_and_service(gw):
    a_fresh_minute()
    assert get(gw, "/header", "X-App: one").status == 200
    assert get(gw, "/header", "X-App: two").status == 200
    assert get(gw, "/header", "X-App: one").status == 429
    assert get(gw, "/path/a").status == 200
    assert get(gw, "/path/b").status == 200  # another path: counted by the client's address
    assert get(gw, "/path/a").status == 429
    assert get(gw, "/svc-a").status == 200
    assert get(gw, "/svc-b").status == 200
    assert get(gw, "/svc-a").status == 429  # the service's two, whichever route


def _ratelimit_keys(server: RedisServer, db: int = 0) -> dict[str, int]:
    client = server.client(db)
    return {key: client.ttl(key) for key in client.keys("ratelimit:*")}


def test_redis_counts_across_workers_with_kongs_keys(gw, redis_servers):
    a_fresh_minute(20)
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: get(gw, "/redis"), range(20)))
    assert sorted(r.status for r in responses) == [200] * 5 + [429] * 15
    assert len({r.header("x-worker-pid") for r in responses}) == 2, "both workers answered"
    ok = next(r for r in responses if r.status == 200)
    assert ok.header("x-ratelimit-limit-minute") == "5"
    [(key, ttl)] = _ratelimit_keys(redis_servers["plain"]).items()
    # ratelimit:<route id>:<service id>:<identifier>:<window start, ms>:<period>
    parts = key.split(":")
    assert parts[0] == "ratelimit" and parts[3] == "127.0.0.1" and parts[5] == "minute"
    assert int(parts[4]) % 60000 == 0 and 0 < ttl <= 60
    # as Kong, refused requests are counted too
    assert int(redis_servers["plain"].client().get(key)) == 20


def test_redis_database_password_user_and_flat_fields(gw, redis_servers):
    a_fresh_minute()
    for path in ("/redis-db", "/redis-user", "/redis-flat"):
        assert [get(gw, path).status for _ in range(3)] == [200, 200, 429], path
    assert len(_ratelimit_keys(redis_servers["password"], 3)) == 1
    assert len(_ratelimit_keys(redis_servers["password"], 5)) == 1
    assert _ratelimit_keys(redis_servers["password"], 0) == {}
    assert len(_ratelimit_keys(redis_servers["user"])) == 1


def test_redis_over_tls_verified_with_the_configured_name(gw):
    a_fresh_minute()
    assert [get(gw, "/redis-tls").status for _ in range(3)] == [200, 200, 429]


def test_redis_refusing_the_password_is_a_500_without_fault_tolerance(gw):
    response = get(gw, "/redis-wrong-password", "Accept: application/json")
    assert response.status == 500 and response.json()["message"] == "An unexpected error occurred"
    wait_for(lambda: "answering 500 (fault_tolerant is false)" in gw.error_log(), 10, message="the error logged")


def test_redis_stopped_proxies_when_fault_tolerant_and_fails_when_not(gw, redis_servers):
    a_fresh_minute()
    assert get(gw, "/redis-down-tolerant").status == 200
    assert get(gw, "/redis-down-strict").status == 200
    redis_servers["doomed"].stop()
    for _ in range(3):  # past the limit: nothing counts any more
        tolerant = get(gw, "/redis-down-tolerant")
        assert tolerant.status == 200 and tolerant.header("x-ratelimit-limit-minute") is None
    strict = get(gw, "/redis-down-strict", "Accept: application/json")
    assert strict.status == 500 and strict.json()["message"] == "An unexpected error occurred"
    log = gw.error_log()
    assert "failed to get usage, the request is not rate-limited (fault_tolerant)" in log
    assert "rate-limiting" in log


@pytest.fixture(scope="module")
def one_worker(module_gateway_factory, module_upstream, redis_servers):
    """One worker, so that its batched view of the counts is the whole node's."""
    route = limited(
        "redis-sync",
        "/redis-sync",
        minute=6,
        limit_by="ip",
        policy="redis",
        sync_rate=0.5,
        redis=redis_conf(redis_servers["plain"], database=7),
    )
    config = {
        "_format_version": "3.0",
        "services": [{"name": "echo", "url": f"http://127.0.0.1:{module_upstream.port}", "routes": [route]}],
    }
    return module_gateway_factory(json.dumps(config), workers=1)


def test_redis_with_sync_rate_batches_counts_as_kong(one_worker, redis_servers):
    a_fresh_minute(15)
    redis = redis_servers["plain"].client(7)
    # Kong's arithmetic: the first request reads (and counts) in Redis, the worker then counts
    # locally from what it read, its own first request not included: 7 of 8 pass
    assert [get(one_worker, "/redis-sync").status for _ in range(8)] == [200] * 7 + [429]
    # the seven let through reach Redis at the next sync, half a second later
    wait_for(lambda: [int(redis.get(key)) for key in redis.keys("ratelimit:*")] == [7], 5, message="the sync")
    [key] = redis.keys("ratelimit:*")
    assert 0 < redis.ttl(key) <= 60
    # synced, the worker reads Redis again: the limit is reached
    assert get(one_worker, "/redis-sync").status == 429


def test_the_counters_live_under_the_prefix(gw):
    assert os.path.getsize(gw.prefix / "rate_limiting_counters.shm") == 12 * 1024 * 1024
