"""Settings, DNS cache, access log and pool, without sockets."""

import asyncio
import ipaddress
import os
from types import SimpleNamespace

import pytest

from dataplane._core import format_access_line
from dataplane.proxy.access_log import AccessLog
from dataplane.proxy.dns import DnsCache, NameNotFound, _Entry, read_hosts
from dataplane.proxy.pool import UpstreamPool
from dataplane.proxy.settings import ProxySettings
from tests.support.waiting import wait_for_async


def test_settings_from_conf():
    conf = SimpleNamespace(
        nginx_http_client_max_body_size=1024, nginx_http_large_client_header_buffers=(4, 16384),
        raw={"nginx_http_keepalive_requests": "50", "error_default_type": "application/json"},
        upstream_keepalive_pool_size=10, upstream_keepalive_max_requests=20, upstream_keepalive_idle_timeout=30,
        real_ip_header="X-Forwarded-For", real_ip_recursive=True,
        trusted_ips=SimpleNamespace(networks=(ipaddress.ip_network("10.0.0.0/8"),)),
        headers=frozenset({"Via"}), headers_upstream=frozenset(), lua_ssl_trusted_certificate=("system",),
        lua_ssl_verify_depth=2, proxy_access_log="/tmp/x.log", dns_hostsfile="/etc/hosts",
        dns_resolver=(SimpleNamespace(host="1.1.1.1", port=53),), dns_valid_ttl=None, dns_stale_ttl=10.0,
        dns_not_found_ttl=3.0, dns_error_ttl=1.0, client_body_buffer_size=4096, prefix="/srv/gantry",
        nginx_http_underscores_in_headers=True,
    )
    settings = ProxySettings.from_conf(conf)
    assert settings.client_max_body_size == 1024
    assert (settings.client_body_buffer_size, settings.body_temp_dir) == (4096, "/srv/gantry/client_body_temp")
    assert settings.underscores_in_headers
    assert (settings.max_request_line_size, settings.max_header_size) == (16384, 65536)
    assert settings.client_keepalive_requests == 50 and settings.error_default_type == "application/json"
    assert settings.trusted_ips == (ipaddress.ip_network("10.0.0.0/8"),)
    assert settings.dns_resolvers == (("1.1.1.1", 53),) and settings.verify_depth == 2


def test_hosts_file_and_cache(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost a.test # comment\n10.0.0.1 multi.test\n10.0.0.2 multi.test\nbad line\n")
    assert read_hosts(str(hosts))["multi.test"] == ["10.0.0.1", "10.0.0.2"]
    cache = DnsCache(ProxySettings(dns_hostsfile=str(hosts), dns_resolvers=(("127.0.0.1", 9),)))
    assert cache.cached("a.test") == "127.0.0.1"
    assert [cache.cached("multi.test") for _ in range(3)] == ["10.0.0.1", "10.0.0.2", "10.0.0.1"]
    assert cache.cached("unknown.test") is None
    cache.entries["gone.test"] = _Entry([], 30, 0, NameNotFound("gone.test"))
    with pytest.raises(NameNotFound):
        cache.cached("gone.test")
    cache.entries["rr.test"] = _Entry(["1.1.1.1", "2.2.2.2"], 30, 0)
    assert [cache.cached("rr.test") for _ in range(3)] == ["1.1.1.1", "2.2.2.2", "1.1.1.1"]


def test_stale_records_are_served_while_refreshing():
    async def main():
        refreshed = []

        class Refreshing(DnsCache):
            async def _query(self, name):
                refreshed.append(name)
                entry = self.entries[name] = _Entry(["9.9.9.9"], 30, 10)
                return entry

        cache = Refreshing(ProxySettings(dns_hostsfile=None, dns_resolvers=(("127.0.0.1", 9),)))
        cache.entries["s.test"] = _Entry(["1.1.1.1"], -1, 100)  # expired, still within stale_ttl
        assert cache.cached("s.test") == "1.1.1.1"
        await wait_for_async(lambda: refreshed, message="the refresh in the background")
        assert refreshed == ["s.test"]
        assert cache.cached("s.test") == "9.9.9.9"
        assert await cache.resolve("s.test") == "9.9.9.9"
    asyncio.run(main())


def test_access_log_format_and_batching(tmp_path):
    async def main():
        path = tmp_path / "access.log"
        log = AccessLog(str(path))
        log.record(format_access_line("1.2.3.4", b"Basic dXNlcjpwYXNz", None, b"ua\x01", log.time_local(), b"GET",
                                      b'/a"b', b"1.1", 200, 12, b"f" * 32))
        log.record(format_access_line("1.2.3.4", None, None, None, b"T", b"", b"", b"1.1", 400, 0, b"-"))
        assert os.path.getsize(path) == 0  # buffered
        log.close()
        first, second = path.read_text().splitlines()
        assert first.startswith("1.2.3.4 - user [")
        assert first.endswith('"GET /a\\x22b HTTP/1.1" 200 12 "-" "ua\\x01" kong_request_id: "' + "f" * 32 + '"')
        assert second == '1.2.3.4 - - [T] "-" 400 0 "-" "-" kong_request_id: "-"'
    asyncio.run(main())


class FakeTransport:
    def __init__(self):
        self.closing = False

    def is_closing(self):
        return self.closing


class FakeConn:
    def __init__(self, key):
        self.key = key
        self.transport = FakeTransport()
        self.requests = 1
        self.in_pool = False
        self.idle_since = 0.0
        self.last_io = asyncio.get_running_loop().time()  # when its last response arrived
        self.closed = False

    def close(self):
        self.closed = True
        self.transport.closing = True


def test_pool_limits():
    async def main():
        pool = UpstreamPool(size=2, max_requests=3, idle_timeout=0.2)
        key = ("127.0.0.1", 80, None, None)
        conns = [FakeConn(key) for _ in range(3)]
        for conn in conns:
            pool.release(conn)
        assert conns[0].closed and not conns[1].closed  # over the size: least recently used goes
        assert pool.acquire(key) is conns[2] and pool.acquire(key) is conns[1] and pool.acquire(key) is None
        worn = FakeConn(key)
        worn.requests = 3
        pool.release(worn)
        assert worn.closed  # upstream_keepalive_max_requests reached
        idle = FakeConn(key)
        pool.release(idle)
        pool.discard(idle)
        assert pool.acquire(key) is None
        pool.release(idle)
        await asyncio.sleep(0.4)  # the point: past the pool's 0.2 s idle timeout
        assert idle.closed and pool.acquire(key) is None  # idle timeout
        pool.close()
    asyncio.run(main())
