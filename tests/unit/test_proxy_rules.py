"""Pure parts of the proxy: error formats, realip, forwarding helpers, response head parts."""

import ipaddress

import pytest

from dataplane.proxy import errors
from dataplane.proxy import ProxySettings
from dataplane._core import Downstream
from dataplane.proxy.forwarding import nginx_host, request_planner
from dataplane.proxy.realip import is_trusted, parse_ip, real_ip
from dataplane._core import HttpHeadError, parse_response_head
from dataplane.proxy.response import STATUS_LINES
from dataplane.proxy.runtime import host_header_value

NETS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize("accept, expected", [
    (None, errors.JSON), (b"*/*", errors.JSON), (b"text/html", errors.HTML), (b"text/*", errors.PLAIN),
    (b"application/xml;q=0.9, text/plain;q=0.5", errors.XML), (b"text/csv", errors.JSON),
    (b"image/png, text/html;q=0.1", errors.JSON), (b"text/plain; charset=utf-8", errors.PLAIN),
])
def test_error_format_negotiation(accept, expected):
    assert errors.media_type(accept) == expected


def test_error_bodies_follow_kongs_templates():
    rid = errors.new_request_id()
    assert len(rid) == 32 and int(rid, 16) >= 0 and rid != errors.new_request_id()
    assert len({errors.new_request_id() for _ in range(1000)}) == 1000
    assert errors.render(404, errors.NO_ROUTE, b"r", errors.JSON) == \
        b'{\n  "message":"no Route matched with those values",\n  "request_id":"r"\n}'
    assert errors.render(502, None, b"r", errors.PLAIN) == \
        b"An invalid response was received from the upstream server\nrequest_id: r\n"
    assert errors.message_for(418) == "The upstream server responded with 418"
    assert b"<message>Payload too large</message>" in errors.render(413, None, b"r", errors.XML)
    assert errors.render(431, None, b"r", errors.PLAIN) == b"Request header or cookie too large\nrequest_id: r\n"
    assert STATUS_LINES[431] == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


def test_realip():
    assert parse_ip("1.2.3.4:80") == "1.2.3.4" and parse_ip("[::1]:8") == "::1" and parse_ip("nope") is None
    assert is_trusted("10.1.1.1", NETS) and not is_trusted("11.1.1.1", NETS) and not is_trusted("x", NETS)
    assert real_ip("10.0.0.1", "1.1.1.1, 2.2.2.2", NETS, False) == "2.2.2.2"
    assert real_ip("10.0.0.1", "1.1.1.1, 10.0.0.7, 10.0.0.8", NETS, True) == "1.1.1.1"
    assert real_ip("10.0.0.1", "10.0.0.9, 10.0.0.8", NETS, True) == "10.0.0.9"  # all trusted: left-most
    assert real_ip("10.0.0.1", "garbage", NETS, True) == "10.0.0.1"
    assert real_ip("10.0.0.1", "1.1.1.1, garbage, 10.0.0.8", NETS, True) == "10.0.0.8"
    assert real_ip("10.0.0.1", None, NETS, True) == "10.0.0.1"


def test_forwarding_helpers():
    assert nginx_host(b"Example.COM:8000", b"srv") == b"example.com"
    assert nginx_host(b"[::1]:80", b"srv") == b"[::1]"
    assert nginx_host(None, b"srv") == b"srv"
    # the head's fields answer lookups by name in any case, values trimmed
    head = b"GET / HTTP/1.1\r\nAccept: a\r\nX-F: 1\r\nHost: h\r\nx-f:  2 \r\n\r\n"
    headers = request_planner(ProxySettings()).plan(head, Downstream(b"1.1.1.1", b"80", False, None, False)).headers
    assert list(headers) == [(b"Accept", b"a"), (b"X-F", b"1"), (b"Host", b"h"), (b"x-f", b"2")] and len(headers) == 4
    assert headers.value(b"accept") == b"a"
    assert headers.values(b"x-f") == b"1, 2"
    assert headers.value(b"missing") is None and headers.values(b"missing") is None


def test_upstream_host_header_values():
    assert host_header_value("example.com", 80, False) == "example.com"
    assert host_header_value("example.com", 443, True) == "example.com"
    assert host_header_value("example.com", 443, False) == "example.com:443"
    assert host_header_value("::1", 8080, False) == "[::1]:8080"


def test_upstream_head_filter():
    head = parse_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
        b"Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nVia: 1.1 a\r\nServer: up\r\n"
        b"Content-Length: 5\r\n\r\nhello")
    assert head.forwarded == b"Content-Type: text/plain\r\nServer: up\r\n"
    assert head.chunked and head.content_length == b"5" and head.via == b"1.1 a" and head.has_server
    assert not head.closes and head.status == 200 and head.length == 180
    plain = parse_response_head(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\nConnection: close\r\nDate: d\r\n\r\n")
    assert plain.forwarded == b"X-A: 1\r\nDate: d\r\n" and plain.has_date and plain.closes and not plain.has_server
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n") is None  # incomplete
    with pytest.raises(HttpHeadError, match="invalid response head"):
        parse_response_head(b"HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n")
    assert STATUS_LINES[200] == b"HTTP/1.1 200 OK\r\n" and STATUS_LINES[599] == b"HTTP/1.1 599 \r\n"
