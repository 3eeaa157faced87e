"""consistent-hashing's value to hash, from each of Kong's hash_on sources, and the runtime's
wiring: which services pick through Balancer.peer, which are left to the general lane."""

from __future__ import annotations

import orjson
import pytest

from dataplane import _core
from dataplane.proxy.hashing import HashSpec, cookie_value, query_arg, with_cookie
from dataplane.proxy.runtime import ServiceTable
from dataplane.proxy.settings import ProxySettings
from dataplane.schema import process


class Fields:
    def __init__(self, pairs):
        self.pairs = [(k.lower(), v) for k, v in pairs]

    def values(self, name):
        found = [v for k, v in self.pairs if k == name]
        return b", ".join(found) if found else None


class Plugins:
    def __init__(self, consumer=None, credential=None):
        self.consumer, self.credential = consumer, credential


class Request:
    """What HashSpec reads of an exchange."""

    def __init__(self, url=b"/", headers=(), remote_addr="10.1.1.1", plugins=None, captures=None):
        self.url = url
        self.headers = Fields(headers)
        self.remote_addr = remote_addr
        self.plugins = plugins
        self.captures = captures


class Peer:
    cookie = None


def value(spec, request, peer=None):
    return spec.value(request, peer or Peer())


def spec(**fields):
    upstream, err = process("upstreams", {"name": "u", **fields})
    assert err is None, err
    return HashSpec(upstream)


def test_kongs_shorthand_makes_a_hash_on_upstream_consistent_hashing():
    upstream, _ = process("upstreams", {"name": "u", "hash_on": "ip"})
    assert upstream["algorithm"] == "consistent-hashing"


def test_each_source():
    r = Request(url=b"/a/./b//c%41?x=1&name=two&name=one&flag", headers=[(b"X-Key", b"k1"), (b"x-key", b"k2"),
                                                                      (b"Cookie", b"a=1; sess=abc")],
                plugins=Plugins({"id": "consumer-id"}), captures={"ns": "team", 0: "/x"})
    assert value(spec(hash_on="ip"), r) == b"10.1.1.1"
    assert value(spec(hash_on="consumer"), r) == b"consumer-id"
    assert value(spec(hash_on="header", hash_on_header="X-Key"), r) == b"k1, k2"
    assert value(spec(hash_on="cookie", hash_on_cookie="sess"), r) == b"abc"
    assert value(spec(hash_on="path"), r) == b"/a/b/cA"
    assert value(spec(hash_on="query_arg", hash_on_query_arg="name"), r) == b"one,two"
    assert value(spec(hash_on="query_arg", hash_on_query_arg="flag"), r) == b"true"
    assert value(spec(hash_on="uri_capture", hash_on_uri_capture="ns"), r) == b"team"
    assert spec(hash_on="uri_capture", hash_on_uri_capture="ns").captures


def test_the_fallback_has_its_own_fields_and_nothing_hashes_the_empty_string():
    s = spec(hash_on="header", hash_on_header="x-a", hash_fallback="query_arg", hash_fallback_query_arg="q")
    assert value(s, Request(url=b"/?q=v")) == b"v"
    assert value(s, Request(url=b"/?q=v", headers=[(b"X-A", b"h")])) == b"h"
    assert value(s, Request(url=b"/")) == b""
    # a consumer first, the credential when there is no consumer, then the fallback
    s = spec(hash_on="consumer", hash_fallback="ip")
    assert value(s, Request(plugins=Plugins(None, {"id": "cred"}))) == b"cred"
    assert value(s, Request(plugins=None, remote_addr="::1")) == b"::1"
    # an empty header is a value (Lua's "" is true)
    assert value(spec(hash_on="header", hash_on_header="x-a"), Request(headers=[(b"x-a", b"")])) == b""


def test_a_missing_cookie_is_made_and_set_on_the_response():
    s = spec(hash_on="cookie", hash_on_cookie="balancer", hash_on_cookie_path="/app")
    peer = Peer()
    made = s.value(Request(), peer)
    assert len(made) == 36
    assert peer.cookie == b"Set-Cookie: balancer=%s; Path=/app; Same-Site=Lax; HttpOnly\r\n" % made
    again = Peer()
    assert s.value(Request(headers=[(b"cookie", b"balancer=" + made)]), again) == made
    assert again.cookie is None


def test_cookie_and_query_parsing():
    assert cookie_value(b"a=1; b=2", b"b") == b"2"
    assert cookie_value(b"a=1;b=2", b"c") is None
    assert cookie_value(None, b"a") is None
    assert query_arg(b"/p?a=x+y&a=%41", "a") == b"A,x y"
    assert query_arg(b"/p?a=", "a") == b""
    assert query_arg(b"/p", "a") is None
    assert query_arg(b"/p?b=1", "a") is None


def test_uri_capture_looks_captures_up_by_name():
    s = spec(hash_on="uri_capture", hash_on_uri_capture="1", hash_fallback="ip")
    assert value(s, Request(captures={1: "one"}, remote_addr="1.2.3.4")) == b"1.2.3.4"


def upstream_json(name, **fields):
    entity, err = process("upstreams", {"name": name, **fields})
    assert err is None, err
    return entity


def test_runtime_targets_pick_as_their_upstream_says():
    upstreams = [
        upstream_json("rr"),
        upstream_json("hashed", hash_on="uri_capture", hash_on_uri_capture="id"),
        upstream_json("lc", algorithm="least-connections"),
    ]
    balancers = {
        u["name"]: _core.Balancer.from_json(orjson.dumps(u), [orjson.dumps(
            {"id": "t", "target": "127.0.0.1:1", "weight": 100, "upstream": {"id": u["id"]}})])
        for u in upstreams
    }
    services = [
        {"id": f"s-{u['name']}", "name": u["name"], "host": u["name"], "port": 80, "protocol": "http"}
        for u in upstreams
    ]
    table = ServiceTable.build(services, balancers, upstreams, [], ProxySettings())
    rr, hashed, lc = (table.targets[f"s-{n}"] for n in ("rr", "hashed", "lc"))
    assert not rr.tracked and rr.hash_spec is None
    assert hashed.tracked and hashed.hash_spec is not None and hashed.hash_spec.captures
    assert lc.tracked and lc.hash_spec is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"hash_on": "header"}, "hash_on_header"),
        ({"hash_on": "cookie"}, "hash_on_cookie"),
        ({"hash_on": "ip", "hash_fallback": "ip"}, "hash_fallback"),
    ],
)
def test_kongs_hash_checks_still_refuse(fields, message):
    _, err = process("upstreams", {"name": "u", **fields})
    assert err is not None and message in str(err)


def test_the_new_cookie_replaces_the_upstreams_of_that_name_or_is_added():
    line = b"Set-Cookie: lb=v1; Path=/; Same-Site=Lax; HttpOnly\r\n"
    head = b"HTTP/1.1 200 OK\r\nSet-Cookie: LB=x\r\nset-cookie: lb=old\r\nContent-Length: 0\r\n\r\n"
    assert with_cookie(head, line) == (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: LB=x\r\nSet-Cookie: lb=v1; Path=/; Same-Site=Lax; HttpOnly\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert with_cookie(plain, line) == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + line + b"\r\n"
