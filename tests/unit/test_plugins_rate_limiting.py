"""rate-limiting's pure parts and its phases run in-process: the schema with Kong's messages
(Kong's spec/03-plugins/23-rate-limiting/01-schema_spec and 06-shorthand_fields_spec, as a
DB-less node sees it), the windows (Kong's kong.tools.timestamp), the headers, the refusal and
the local policy's counting (against a private table of shared counters), and the shared
counters counted exactly by several processes at once."""

from __future__ import annotations

import calendar
import importlib
import multiprocessing
import time

import pytest

from dataplane import shared_memory
from dataplane._core import SharedCounters, SharedMemoryError
from dataplane.plugins import load_registry
from dataplane.plugins.bundled.rate_limiting import local
from dataplane.plugins.bundled.rate_limiting.windows import (
    EXPIRATION,
    reset_after,
    window_end,
    window_starts,
    windows_for,
)
from dataplane.plugins.testing import PluginHarness, Request
from dataplane.schema import process

load_registry()  # registers the bundled plugins' config schemas

rate_limiting = importlib.import_module("dataplane.plugins.bundled.rate_limiting")
AT_LEAST_ONE = (
    "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', "
    "'config.day', 'config.month', 'config.year'"
)


def config_errors(config: dict) -> object:
    return process("plugins", {"name": "rate-limiting", "config": config}, now=1)[1]


def filled(config: dict) -> dict:
    entity, errors = process("plugins", {"name": "rate-limiting", "config": config}, now=1)
    assert errors is None, errors
    return entity["config"]


# ---- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"second": 10},
        {"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 50, "year": 60},
        {"second": 10, "limit_by": "header", "header_name": "X-App-Version"},
        {"second": 10, "limit_by": "path", "path": "/request"},
        {"minute": 1.5},
        {"minute": 1, "policy": "redis", "redis": {"host": "127.0.0.1"}, "sync_rate": 0.5},
        {
            "second": 10,
            "policy": "redis",
            "redis": {
                "host": "127.0.0.1",
                "port": 6379,
                "database": 0,
                "username": "test",
                "password": "testXXX",
                "ssl": True,
                "ssl_verify": False,
                "timeout": 1100,
                "server_name": "redis.test",
            },
        },
    ],
)
def test_kongs_good_configs_validate(config):
    assert config_errors(config) is None


def test_defaults_are_kongs_for_a_dbless_node():
    config = filled({"minute": 5})
    assert config["limit_by"] == "consumer"
    assert config["policy"] == "local"
    assert config["fault_tolerant"] is True and config["hide_client_headers"] is False
    assert (config["error_code"], config["error_message"]) == (429, "API rate limit exceeded")
    assert config["sync_rate"] == -1
    assert config["redis"] == {
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


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        (
            {"second": 20, "hour": 10},
            {"config": "The limit for hour(10.0) cannot be lower than the limit for second(20.0)"},
        ),
        (
            {"second": 10, "minute": 20, "hour": 30, "day": 40, "month": 60, "year": 50},
            {"config": "The limit for year(50.0) cannot be lower than the limit for month(60.0)"},
        ),
        ({}, {"config": {"@entity": [AT_LEAST_ONE]}}),
        ({"minute": 0}, {"config": {"minute": "value must be greater than 0"}}),
        ({"minute": -1.5}, {"config": {"minute": "value must be greater than 0"}}),
        ({"minute": "ten"}, {"config": {"minute": "expected a number"}}),
        ({"minute": 1, "error_code": 0}, {"config": {"error_code": "value must be greater than 0"}}),
        (
            {"minute": 1, "limit_by": "cookie"},
            {"config": {"limit_by": "expected one of: consumer, credential, ip, service, header, path"}},
        ),
        ({"minute": 1, "header_name": "bad header"}, None),  # checked below: Kong's header_name message
        # Kong's DB-less and hybrid schema: no database to count in
        ({"minute": 1, "policy": "cluster"}, {"config": {"policy": "expected one of: local, redis"}}),
        ({"second": 10, "policy": "redis"}, {"config": {"redis": {"host": "required field missing"}}}),
        (
            {"second": 10, "policy": "redis", "redis": {"host": "127.0.0.1", "port": None, "timeout": None}},
            {"config": {"redis": {"port": "required field missing", "timeout": "required field missing"}}},
        ),
        ({"minute": 1, "sync_rate": 10}, {"config": "sync_rate can only be used with the redis policy"}),
        (
            {"minute": 1, "policy": "redis", "redis": {"host": "h"}, "sync_rate": 0.01},
            {"config": "sync_rate must be greater than 0.02, or -1 to disable"},
        ),
        ({"minute": 1, "unknown": True}, {"config": {"unknown": "unknown field"}}),
    ],
)
def test_kongs_bad_configs_get_kongs_messages(config, errors):
    if errors is None:
        assert config_errors(config)["config"]["header_name"].startswith("bad header name 'bad header'")
        return
    assert config_errors(config) == errors


@pytest.mark.parametrize(("limit_by", "field"), [("header", "header_name"), ("path", "path")])
def test_limit_by_header_or_path_requires_its_field(limit_by, field):
    errors = config_errors({"second": 10, "limit_by": limit_by})
    assert errors["config"][field] == "required field missing"


def test_the_redis_policy_takes_kongs_deprecated_flat_fields():
    config = filled(
        {
            "second": 10,
            "policy": "redis",
            "redis_host": "127.0.0.1",
            "redis_port": 6380,
            "redis_database": 2,
            "redis_username": "test",
            "redis_password": "testXXX",
            "redis_ssl": True,
            "redis_ssl_verify": False,
            "redis_timeout": 1100,
            "redis_server_name": "redis.test",
        }
    )
    assert config["redis"] == {
        "host": "127.0.0.1",
        "port": 6380,
        "timeout": 1100,
        "username": "test",
        "password": "testXXX",
        "database": 2,
        "ssl": True,
        "ssl_verify": False,
        "server_name": "redis.test",
    }
    assert "redis_host" not in config


def test_a_flat_field_contradicting_its_new_field_is_refused_as_kong_does():
    errors = config_errors({"second": 1, "redis_host": "a", "redis": {"host": "b"}})
    assert errors == {
        "config": {
            "redis_host": "both deprecated and new field are used but their values mismatch: "
            "redis_host = a vs redis.host = b"
        }
    }
    # the same value twice is fine
    assert filled({"second": 1, "redis_port": 7000, "redis": {"port": 7000}})["redis"]["port"] == 7000
    assert config_errors({"second": 1, "redis_port": "x"}) == {"config": {"redis_port": "expected an integer"}}


# ---- windows -----------------------------------------------------------------------------------


def test_window_starts_are_kongs_utc_timestamps():
    now = calendar.timegm((2024, 2, 29, 23, 59, 58))
    starts = window_starts(now)
    assert starts == {
        "second": now,
        "minute": calendar.timegm((2024, 2, 29, 23, 59, 0)),
        "hour": calendar.timegm((2024, 2, 29, 23, 0, 0)),
        "day": calendar.timegm((2024, 2, 29, 0, 0, 0)),
        "month": calendar.timegm((2024, 2, 1, 0, 0, 0)),
        "year": calendar.timegm((2024, 1, 1, 0, 0, 0)),
    }


def test_a_window_ends_where_the_next_begins():
    start = window_starts(calendar.timegm((2024, 12, 31, 12, 0, 0)))
    assert window_end("second", start["second"]) == start["second"] + 1
    assert window_end("day", start["day"]) == calendar.timegm((2025, 1, 1, 0, 0, 0))
    assert window_end("month", start["month"]) == calendar.timegm((2025, 1, 1, 0, 0, 0))
    assert window_end("year", start["year"]) == calendar.timegm((2025, 1, 1, 0, 0, 0))
    feb = window_starts(calendar.timegm((2024, 2, 10, 0, 0, 0)))["month"]
    assert window_end("month", feb) == calendar.timegm((2024, 3, 1, 0, 0, 0))


def test_reset_counts_down_kongs_nominal_lengths():
    assert EXPIRATION == {
        "second": 1,
        "minute": 60,
        "hour": 3600,
        "day": 86400,
        "month": 2592000,
        "year": 31536000,
    }
    assert reset_after("minute", 1000, 1000) == 60
    assert reset_after("minute", 1000, 1059) == 1
    assert reset_after("second", 1000, 1000) == 1
    # a 31-day month's last day: Kong's 30-day length is over, the header says 1
    assert reset_after("month", 0, 30 * 86400 + 5) == 1


def test_counter_keys_are_kongs():
    now = calendar.timegm((2024, 2, 29, 23, 59, 58))
    [minute] = windows_for([("minute", 5)], "r-id", None, "1.2.3.4", now)
    start = calendar.timegm((2024, 2, 29, 23, 59, 0))
    assert minute.key == f"ratelimit:r-id:00000000-0000-0000-0000-000000000000:1.2.3.4:{start * 1000}:minute"
    assert (minute.start, minute.expires_at) == (start, start + 60)


# ---- the phases, in-process --------------------------------------------------------------------


@pytest.fixture
def counters(monkeypatch):
    table = SharedCounters.private(4096)
    monkeypatch.setattr(shared_memory, "_counters", table)
    monkeypatch.setattr(shared_memory, "_attach_error", None)
    return table


def run(harness: PluginHarness, config: dict, request: Request | None = None):
    return harness.run(request or Request(headers={"Accept": "application/json"}), config=config)


def test_requests_past_the_limit_get_kongs_429_and_headers(counters):
    harness = PluginHarness(rate_limiting)
    config = {"minute": 3}
    for left in (2, 1, 0):
        result = run(harness, config)
        assert result.response.status == 200 and result.upstream is not None
        headers = result.response.headers
        assert headers["x-ratelimit-limit-minute"] == "3"
        assert headers["x-ratelimit-remaining-minute"] == str(left)
        assert headers["ratelimit-limit"] == "3" and headers["ratelimit-remaining"] == str(left)
        assert 1 <= int(headers["ratelimit-reset"]) <= 60
        assert "retry-after" not in headers
    refused = run(harness, config)
    assert refused.response.status == 429 and refused.upstream is None
    assert refused.response.json()["message"] == "API rate limit exceeded"
    headers = refused.response.headers
    assert headers["x-ratelimit-remaining-minute"] == "0" and headers["ratelimit-remaining"] == "0"
    assert headers["retry-after"] == headers["ratelimit-reset"]


def test_several_periods_report_the_tightest_and_a_refusal_counts_nowhere(counters):
    harness = PluginHarness(rate_limiting)
    config = {"minute": 2, "hour": 10, "day": 10}
    first = run(harness, config).response.headers
    assert (first["x-ratelimit-remaining-minute"], first["x-ratelimit-remaining-hour"]) == ("1", "9")
    assert first["x-ratelimit-remaining-day"] == "9"
    assert (first["ratelimit-limit"], first["ratelimit-remaining"]) == ("2", "1")
    run(harness, config)
    refused = run(harness, config)
    assert refused.response.status == 429
    headers = refused.response.headers
    # the refusing period shows 0; the others what they had, this request not counted
    assert headers["x-ratelimit-remaining-minute"] == "0"
    assert (headers["x-ratelimit-remaining-hour"], headers["x-ratelimit-remaining-day"]) == ("8", "8")
    assert int(headers["retry-after"]) <= 60
    hour = windows_for([("hour", 10)], harness.route["id"], None, "127.0.0.1", now())[0]
    assert counters.get(hour.key, hour.expires_at) == 2


def now() -> int:
    return int(time.time())


def test_equal_remaining_reports_the_longer_period(counters):
    before = now()
    headers = run(PluginHarness(rate_limiting), {"second": 5, "minute": 5}).response.headers
    after = now()
    assert headers["ratelimit-remaining"] == "4"
    # the minute's window, not the second's
    assert int(headers["ratelimit-reset"]) in {60 - before % 60, 60 - after % 60}


def test_hide_client_headers_sends_none_of_them(counters):
    harness = PluginHarness(rate_limiting)
    config = {"minute": 1, "hide_client_headers": True}
    ok = run(harness, config).response.headers
    refused = run(harness, config)
    assert refused.response.status == 429
    for headers in (ok, refused.response.headers):
        assert not [name for name, _ in headers if "ratelimit" in name.lower() or name.lower() == "retry-after"]


def test_error_code_and_message_are_the_configs(counters):
    harness = PluginHarness(rate_limiting)
    config = {"minute": 1, "error_code": 503, "error_message": "slow down"}
    run(harness, config)
    refused = run(harness, config)
    assert refused.response.status == 503 and refused.response.json()["message"] == "slow down"


@pytest.mark.parametrize(
    ("config", "first", "second", "shared"),
    [
        # by header: each value has its own count; no header counts by the client's address
        (
            {"limit_by": "header", "header_name": "x-app"},
            Request(headers={"x-app": "a"}),
            Request(headers={"x-app": "b"}),
            False,
        ),
        (
            {"limit_by": "header", "header_name": "x-app"},
            Request(headers={"x-app": "a"}),
            Request(headers={"x-app": "a"}, client_ip="10.0.0.2"),
            True,
        ),
        ({"limit_by": "ip"}, Request(client_ip="10.0.0.1"), Request(client_ip="10.0.0.2"), False),
        ({"limit_by": "ip"}, Request(client_ip="10.0.0.1"), Request("GET", "/other", client_ip="10.0.0.1"), True),
        # by path: the configured path counts apart; any other path counts by address
        ({"limit_by": "path", "path": "/a"}, Request("GET", "/a"), Request("GET", "/b"), False),
        ({"limit_by": "path", "path": "/a"}, Request("GET", "/b"), Request("GET", "/c"), True),
        # by service: every client of the service together
        ({"limit_by": "service"}, Request(client_ip="10.0.0.1"), Request(client_ip="10.0.0.2"), True),
        # by consumer with none identified: the address
        ({"limit_by": "consumer"}, Request(client_ip="10.0.0.1"), Request(client_ip="10.0.0.2"), False),
        ({"limit_by": "credential"}, Request(client_ip="10.0.0.1"), Request(client_ip="10.0.0.1"), True),
    ],
)
def test_limit_by_chooses_what_counts_together(counters, config, first, second, shared):
    harness = PluginHarness(rate_limiting)
    config = {"minute": 1, **config}
    assert harness.run(first, config=config).response.status == 200
    assert harness.run(second, config=config).response.status == (429 if shared else 200)


def test_limit_by_consumer_counts_each_consumer_apart(counters):
    key_auth = importlib.import_module("dataplane.plugins.bundled.key_auth")
    consumers = [
        {"id": f"c0ffee00-0000-4000-8000-00000000000{i}", "username": f"u{i}", "custom_id": None} for i in (1, 2)
    ]
    credentials = [
        {"id": f"c0ffee00-0000-4000-8000-00000000001{i}", "key": f"k{i}", "consumer": {"id": consumers[i - 1]["id"]}}
        for i in (1, 2)
    ]
    harness = PluginHarness(
        key_auth, rate_limiting, entities={"consumers": consumers, "keyauth_credentials": credentials}
    )
    configs = {"key-auth": {}, "rate-limiting": {"minute": 1, "limit_by": "consumer"}}
    assert harness.run(Request(headers={"apikey": "k1"}), configs=configs).response.status == 200
    assert harness.run(Request(headers={"apikey": "k2"}), configs=configs).response.status == 200
    assert harness.run(Request(headers={"apikey": "k1"}), configs=configs).response.status == 429


@pytest.mark.parametrize("fault_tolerant", [True, False])
def test_a_full_table_is_handled_as_kongs_fault_tolerance(monkeypatch, fault_tolerant):
    full = SharedCounters.private(1)
    full.increment("someone else", 1, 10, now() + 3600, now())
    monkeypatch.setattr(shared_memory, "_counters", full)
    monkeypatch.setattr(shared_memory, "_attach_error", None)
    result = run(PluginHarness(rate_limiting), {"minute": 1, "fault_tolerant": fault_tolerant})
    if fault_tolerant:
        assert result.response.status == 200 and "x-ratelimit-limit-minute" not in result.response.headers
    else:
        assert result.response.status == 500
        assert result.response.json()["message"] == "An unexpected error occurred"
    [(level, message)] = [line for line in result.logs if "failed to get usage" in line[1]]
    assert level == "error" and "shared counters full" in message


def test_counters_a_worker_could_not_map_are_an_error_per_request(monkeypatch):
    monkeypatch.setattr(shared_memory, "_attach_error", SharedMemoryError("no such file"))
    result = run(PluginHarness(rate_limiting), {"minute": 1, "fault_tolerant": False})
    assert result.response.status == 500


# ---- the local policy and the shared counters --------------------------------------------------


def test_local_count_takes_back_earlier_periods_when_a_later_one_refuses():
    table = SharedCounters.private(64)
    t = now()
    windows = windows_for([("second", 10), ("minute", 1), ("hour", 5)], None, None, "x", t)
    assert local.count(table, windows, t) == ({"second": 0, "minute": 0, "hour": 0}, None)
    usage, stop = local.count(table, windows, t)
    assert stop == "minute" and usage == {"second": 1, "minute": 1, "hour": 1}
    # the second's count was taken back, the hour's never made
    assert [table.get(w.key, w.expires_at) for w in windows] == [1, 1, 1]


def test_a_fractional_limit_lets_through_what_kong_does():
    table = SharedCounters.private(64)
    t = now()
    windows = windows_for([("minute", 2.5)], None, None, "x", t)
    stops = [local.count(table, windows, t)[1] for _ in range(4)]
    assert stops == [None, None, None, "minute"]


def _count_in_child(path: str, key: str, limit: int, window: tuple[int, int], tries: int, gate, queue) -> None:
    table = SharedCounters.open(path)
    expires_at, now_ = window
    gate.wait(60)  # every child counts at the same time
    queue.put(sum(table.increment(key, 1, limit, expires_at, now_)[0] for _ in range(tries)))


def _count_together(path: str, key: str, limit: int, window: tuple[int, int], processes: int, tries: int) -> list[int]:
    context = multiprocessing.get_context("spawn")
    gate, queue = context.Event(), context.Queue()
    children = [
        context.Process(target=_count_in_child, args=(path, key, limit, window, tries, gate, queue))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    gate.set()
    counted = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
    return counted


@pytest.mark.slow
def test_processes_counting_at_once_get_an_exact_total(tmp_path):
    path = str(tmp_path / "counters.shm")
    table = SharedCounters.create(path)
    window = (now() + 3600, now())
    assert _count_together(path, "k", 10**9, window, 4, 20000) == [20000] * 4
    assert table.get("k", window[0]) == 80000


@pytest.mark.slow
def test_processes_counting_at_once_never_pass_the_limit(tmp_path):
    path = str(tmp_path / "counters.shm")
    table = SharedCounters.create(path)
    window = (now() + 3600, now())
    assert sum(_count_together(path, "k", 30000, window, 4, 20000)) == 30000
    assert table.get("k", window[0]) == 30000
