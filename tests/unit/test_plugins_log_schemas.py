"""The logging plugins' config schemas with Kong's defaults and messages (Kong's
spec/03-plugins/03-http-log/02-schema_spec.lua and 04-file-log/02-schema_spec.lua), http-log's
deprecated queue fields, and custom_fields_by_lua refused rather than ignored."""

from __future__ import annotations

import logging

import pytest

from dataplane.plugins import load_registry
from dataplane.plugins.bundled import http_log
from dataplane.plugins.bundled._log_plugins import LUA_REFUSED
from dataplane.plugins.bundled._queue import Params
from dataplane.schema import process

registry = load_registry()  # registers the bundled plugins' config schemas

QUEUE_DEFAULTS = {
    "max_batch_size": 1,
    "max_coalescing_delay": 1,
    "max_entries": 10000,
    "max_bytes": None,
    "max_retry_time": 60,
    "initial_retry_delay": 0.01,
    "max_retry_delay": 60,
    "concurrency_limit": 1,
}


def config_errors(name: str, config: dict) -> object:
    return process("plugins", {"name": name, "config": config}, now=1)[1]


def filled(name: str, config: dict) -> dict:
    entity, errors = process("plugins", {"name": name, "config": config}, now=1)
    assert errors is None
    return entity["config"]


def test_priorities_and_versions_are_kongs():
    assert {name: registry.get(name).priority for name in ("file-log", "http-log", "tcp-log", "udp-log")} == {
        "file-log": 9,
        "http-log": 12,
        "tcp-log": 7,
        "udp-log": 8,
    }
    assert all(registry.get(name).version == "3.10.0" for name in ("file-log", "http-log", "tcp-log", "udp-log"))
    assert registry.get("http-log").phases == {"log"}


# ---- http-log ------------------------------------------------------------------------------------


def test_http_log_defaults():
    assert filled("http-log", {"http_endpoint": "http://myservice.test/path"}) == {
        "http_endpoint": "http://myservice.test/path",
        "method": "POST",
        "content_type": "application/json",
        "timeout": 10000,
        "keepalive": 60000,
        "retry_count": None,
        "queue_size": None,
        "flush_timeout": None,
        "headers": None,
        "queue": QUEUE_DEFAULTS,
        "custom_fields_by_lua": None,
    }
    assert filled("http-log", {"http_endpoint": "http://bob:password@myservice.test/path"})
    assert filled("http-log", {"http_endpoint": "http://x.test", "headers": {"X-My-Header": "123", "X-Your": "abc"}})
    assert filled("http-log", {"http_endpoint": "http://x.test", "content_type": "application/json; charset=utf-8"})


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        ({"http_endpoint": None}, {"http_endpoint": "required field missing"}),
        ({"http_endpoint": "nope"}, {"http_endpoint": "missing host in url"}),
        ({"headers": {"X-My-Header": ""}}, {"headers": "length must be at least 1"}),
        ({"headers": {"X-My-Header": "123", "Host": "MyHost"}}, {"headers": "cannot contain 'Host' header"}),
        ({"headers": {"coNTEnt-Length": "123"}}, {"headers": "cannot contain 'Content-Length' header"}),
        ({"headers": {"coNTEnt-Type": "bad"}}, {"headers": "cannot contain 'Content-Type' header"}),
        ({"method": "GET"}, {"method": "expected one of: POST, PUT, PATCH"}),
        (
            {"content_type": "text/plain"},
            {"content_type": "expected one of: application/json, application/json; charset=utf-8"},
        ),
        (
            {"queue": {"max_batch_size": 0, "concurrency_limit": 2, "initial_retry_delay": 0}},
            {
                "queue": {
                    "max_batch_size": "value should be between 1 and 1000000",
                    "concurrency_limit": "expected one of: -1, 1",
                    "initial_retry_delay": "value should be between 0.001 and 1000000",
                }
            },
        ),
        (
            {"queue": {"max_coalescing_delay": 3601}},
            {"queue": {"max_coalescing_delay": "value should be between 0 and 3600"}},
        ),
    ],
)
def test_http_log_messages(config, errors):
    assert config_errors("http-log", {"http_endpoint": "http://myservice.test/path", **config}) == {"config": errors}


def test_http_log_refuses_userinfo_with_an_authorization_header():
    assert config_errors(
        "http-log", {"http_endpoint": "http://hi:there@myservice.test/path", "headers": {"AuthoRIZATion": "bad"}}
    ) == {"config": "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"}


@pytest.mark.parametrize("name", ["http-log", "file-log", "tcp-log", "udp-log"])
def test_custom_fields_by_lua_is_refused_unless_empty(name):
    base = {
        "http-log": {"http_endpoint": "http://myservice.test/path"},
        "file-log": {"path": "/tmp/log.txt"},
        "tcp-log": {"host": "127.0.0.1", "port": 9000},
        "udp-log": {"host": "127.0.0.1", "port": 9000},
    }[name]
    assert config_errors(name, {**base, "custom_fields_by_lua": {"foo": "return 'bar'"}}) == {
        "config": {"custom_fields_by_lua": LUA_REFUSED}
    }
    assert filled(name, {**base, "custom_fields_by_lua": {}})["custom_fields_by_lua"] == {}


def test_legacy_queue_parameters_are_read_into_the_queue(caplog):
    config = filled(
        "http-log",
        {
            "http_endpoint": "http://hi:there@myservice.test/path",
            "retry_count": 23,
            "queue_size": 46,
            "flush_timeout": 92,
        },
    )
    with caplog.at_level(logging.WARNING, "gantry.plugins"):
        params = http_log.queue_params(config, "legacy-conversion-test")
    assert (params.max_batch_size, params.max_coalescing_delay) == (46, 92)
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "the retry_count parameter no longer works" in logged
    assert "the queue_size parameter is deprecated" in logged
    assert "the flush_timeout parameter is deprecated" in logged


def test_legacy_parameters_at_their_old_defaults_change_nothing():
    config = filled(
        "http-log",
        {
            "http_endpoint": "http://x.test",
            "retry_count": 10,
            "queue_size": 1,
            "flush_timeout": 2,
            "queue": {"max_batch_size": 5},
        },
    )
    assert http_log.queue_params(config, "defaults") == Params(max_batch_size=5)


def test_http_log_configs_with_the_same_collector_share_a_queue_name():
    one = filled("http-log", {"http_endpoint": "http://x.test/a", "queue": {"max_batch_size": 5}})
    two = filled("http-log", {"http_endpoint": "http://x.test/a"})
    three = filled("http-log", {"http_endpoint": "http://x.test/a", "timeout": 5})
    assert (
        http_log.queue_name(one) == http_log.queue_name(two) == "http://x.test/a:POST:application/json:10000:60000:nil"
    )
    assert http_log.queue_name(three) != http_log.queue_name(two)


# ---- file-log ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ovo*", "/ovo`", "test&thing", "test%thing", "test\\thing", " /ovo", "/ovo  "])
def test_file_log_refuses_what_kong_calls_no_valid_filename(path):
    assert config_errors("file-log", {"path": path, "reopen": True}) == {"config": {"path": "not a valid filename"}}


def test_file_log_schema():
    assert config_errors("file-log", {"reopen": True}) == {"config": {"path": "required field missing"}}
    assert filled("file-log", {"path": "/o vo.loga", "reopen": True})["reopen"] is True
    assert filled("file-log", {"path": "/tmp/log.txt"}) == {
        "path": "/tmp/log.txt",
        "reopen": False,
        "custom_fields_by_lua": None,
    }


# ---- tcp-log, udp-log ----------------------------------------------------------------------------


def test_tcp_log_schema():
    assert filled("tcp-log", {"host": "127.0.0.1", "port": 9000}) == {
        "host": "127.0.0.1",
        "port": 9000,
        "timeout": 10000,
        "keepalive": 60000,
        "tls": False,
        "tls_sni": None,
        "custom_fields_by_lua": None,
    }
    assert config_errors("tcp-log", {}) == {
        "config": {"host": "required field missing", "port": "required field missing"}
    }
    assert config_errors("tcp-log", {"host": "127.0.0.1:9", "port": 65536}) == {
        "config": {"host": "must not have a port", "port": "value should be between 0 and 65535"}
    }


def test_udp_log_schema():
    assert filled("udp-log", {"host": "logs.test", "port": 514}) == {
        "host": "logs.test",
        "port": 514,
        "timeout": 10000,
        "custom_fields_by_lua": None,
    }
    assert config_errors("udp-log", {"port": 514}) == {"config": {"host": "required field missing"}}
