import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataplane.conf.listeners import USAGE, parse_listeners


def test_kong_default_proxy_listen():
    plain, tls = parse_listeners(
        "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384"
    )
    assert (plain.ip, plain.port, plain.ssl, plain.reuseport, plain.backlog) == ("0.0.0.0", 8000, False, True, 16384)
    assert (tls.port, tls.ssl, tls.http2, tls.reuseport) == (8443, True, True, True)
    assert tls.listener == "0.0.0.0:8443 ssl reuseport backlog=16384"  # http2 dropped, as Kong


def test_all_flags():
    (listener,) = parse_listeners(
        "127.0.0.1:9000 ssl proxy_protocol deferred bind reuseport backlog=511 ipv6only=off so_keepalive=30m::10"
    )
    assert listener.ssl and listener.proxy_protocol and listener.deferred and listener.bind
    assert listener.backlog == 511 and listener.ipv6only is False and listener.so_keepalive == "30m::10"
    assert parse_listeners("[::]:80 ipv6only=on so_keepalive=on")[0].ipv6only is True


def test_flags_may_come_first():
    (listener,) = parse_listeners("ssl 0.0.0.0:8443")
    assert listener.ssl and listener.port == 8443


def test_ipv6_hostname_and_wildcard():
    v6, name, star = parse_listeners("[::1]:8000 ssl, localhost:8001, *:8002")
    assert (v6.ip, v6.host_type, v6.port, v6.ssl) == ("::1", "ipv6", 8000, True)
    assert v6.listener == "[::1]:8000 ssl"
    assert (name.ip, name.host_type) == ("localhost", "name")
    assert (star.ip, star.bind_host) == ("*", "0.0.0.0")
    full = parse_listeners("[0000:0000:0000:0000:0000:0000:0000:0001]:80")[0]
    assert full.ip == "::1"


def test_ipv4_leading_zeros_are_normalised():
    assert parse_listeners("127.000.000.001:80")[0].ip == "127.0.0.1"


def test_off():
    assert parse_listeners("off") == ()
    assert parse_listeners("off, 0.0.0.0:8000") == ()  # Kong ignores what follows off


@pytest.mark.parametrize("value,message", [
    ("0.0.0.0:99999", "invalid port 99999"),
    ("0.0.0.0:0", "invalid port 0"),
    ("0.0.0.0", "missing port"),
    ("[::1]", "missing port"),
    ("::1:8000", "missing port"),  # an IPv6 address with a port needs brackets
    ("[::g]:80", "invalid ipv6 address"),
    ("300.0.0.1:80", "invalid ipv4 address"),
    ("0.0.0.0:8000 http3", "unknown flag 'http3'"),
    ("0.0.0.0:8000 backlog=lots", "unknown flag 'backlog=lots'"),
    ("0.0.0.0:8000 0.0.0.0:8001", "invalid entry"),
    ("", "must be of form"),
    ("0.0.0.0:8000, off", "missing port in 'off'"),
])
def test_bad_listeners(value, message):
    with pytest.raises(ValueError, match=message):
        parse_listeners(value)


def test_usage_is_kongs():
    assert USAGE.startswith("must be of form: [off] | <ip>:<port> [ssl] [http2]")


FLAGS = ("ssl", "http2", "proxy_protocol", "deferred", "bind", "reuseport", "backlog=128", "ipv6only=on",
         "so_keepalive=off")


@given(
    address=st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
                      st.just("*"), st.just("example.internal")),
    port=st.integers(1, 65535),
    flags=st.lists(st.sampled_from(FLAGS), unique=True),
)
def test_normalised_form_parses_back_to_the_same_listener(address, port, flags):
    (listener,) = parse_listeners(" ".join([f"{address}:{port}", *flags]))
    (again,) = parse_listeners(listener.listener + (" http2" if listener.http2 else ""))
    assert again == listener
