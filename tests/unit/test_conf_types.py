import ipaddress

import pytest

from dataplane.conf import types, values
from dataplane.conf.headers import parse_headers, parse_headers_upstream
from dataplane.conf.trusted_ips import parse_trusted_ips


@pytest.mark.parametrize("text,expected", [("on", True), ("true", True), ("off", False), ("false", False)])
def test_boolean(text, expected):
    assert types.boolean(text) is expected


@pytest.mark.parametrize("text", ["yes", "ON", "1", ""])
def test_boolean_rejects(text):
    with pytest.raises(ValueError, match="invalid boolean"):
        types.boolean(text)


@pytest.mark.parametrize("text,expected", [
    ("0", 0), ("512", 512), ("1k", 1024), ("8K", 8192), ("128m", 128 << 20),
    ("2048m", 2 << 30), ("2g", 2 << 30), ("1G", 1 << 30),
])
def test_size(text, expected):
    assert types.size()(text) == expected


@pytest.mark.parametrize("text", ["", "1.5m", "10mb", "k", "-1", "1 m", "1t"])
def test_size_rejects(text):
    with pytest.raises(ValueError, match="invalid size"):
        types.size()(text)


def test_size_minimum():
    with pytest.raises(ValueError, match="must be 1 or greater"):
        types.size(minimum=1)("0")


def test_integer_and_number():
    assert types.integer(minimum=0)("10000") == 10000
    assert types.number(minimum=0)("0.5") == 0.5
    for bad in ("1.5", "ten", ""):
        with pytest.raises(ValueError, match="not an integer"):
            types.integer()(bad)
    for bad in ("nan", "inf", "x"):
        with pytest.raises(ValueError, match="not a number"):
            types.number()(bad)
    with pytest.raises(ValueError, match="must be 0 or greater"):
        types.integer(minimum=0)("-1")


def test_enum_lists_choices():
    with pytest.raises(ValueError, match=r"invalid value 'loud' \(a, b\)"):
        types.enum("a", "b")("loud")


def test_list_splitting():
    assert types.string_list(" a, b ,,c ,") == ("a", "b", "c")
    assert types.string_list("") == ()


def test_worker_processes(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert values.worker_processes("auto") == 6
    assert values.worker_processes("3") == 3
    for bad in ("0", "many", "-2"):
        with pytest.raises(ValueError, match="'auto' or an integer"):
            values.worker_processes(bad)


def test_database_rejects_cassandra_with_kong_message():
    assert values.database("off") == "off"
    with pytest.raises(ValueError, match="Cassandra as a datastore"):
        values.database("cassandra")
    with pytest.raises(ValueError, match=r"invalid value 'mysql' \(postgres, off\)"):
        values.database("mysql")


def test_trusted_ips():
    trusted = parse_trusted_ips("10.0.0.0/8, 192.168.1.1, ::1, unix:")
    assert trusted.unix
    assert ipaddress.ip_network("10.0.0.0/8") in trusted.networks
    assert "10.2.3.4" in trusted and "192.168.1.1" in trusted and "::1" in trusted
    assert "11.0.0.1" not in trusted and "not an ip" not in trusted
    everyone = parse_trusted_ips("0.0.0.0/0,::/0")
    assert "8.8.8.8" in everyone and "2001:db8::1" in everyone
    assert parse_trusted_ips("").networks == ()
    with pytest.raises(ValueError, match="got '10.0.0.300'"):
        parse_trusted_ips("10.0.0.300")


def test_headers():
    assert parse_headers("server_tokens") == {"Via", "Server"}
    assert parse_headers("latency_tokens, X-Kong-Request-Id") == {
        "X-Kong-Proxy-Latency", "X-Kong-Response-Latency", "X-Kong-Admin-Latency",
        "X-Kong-Upstream-Latency", "X-Kong-Request-Id",
    }
    assert parse_headers("x-kong-upstream-status") == {"X-Kong-Upstream-Status"}
    assert parse_headers("off") == frozenset()
    assert parse_headers("off, server_tokens") == frozenset()  # off first wins, as in Kong
    with pytest.raises(ValueError, match="invalid entry 'X-Custom'"):
        parse_headers("server_tokens, X-Custom")
    assert parse_headers_upstream("X-Kong-Request-Id") == {"X-Kong-Request-Id"}
    with pytest.raises(ValueError, match="invalid entry 'server_tokens'"):
        parse_headers_upstream("server_tokens")


def test_dns_values():
    servers = values.dns_resolver("8.8.8.8, [::1]:5353, 1.1.1.1:53, 2001:db8::1")
    assert [str(server) for server in servers] == ["8.8.8.8:53", "[::1]:5353", "1.1.1.1:53", "[2001:db8::1]:53"]
    with pytest.raises(ValueError, match="IPv4/6:port, got 'dns.example.com'"):
        values.dns_resolver("dns.example.com")
    assert values.dns_order("last, srv,A") == ("LAST", "SRV", "A")
    with pytest.raises(ValueError, match="invalid entry 'MX'"):
        values.dns_order("A, MX")


def test_header_buffers():
    assert values.header_buffers("4 8k") == (4, 8192)
    for bad in ("8k", "0 8k", "4 8k 1"):
        with pytest.raises(ValueError):
            values.header_buffers(bad)


def test_trusted_certificates(tmp_path):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    bundle = tmp_path / "ca.pem"
    bundle.write_text(pem)
    import base64
    encoded = base64.b64encode(pem.encode()).decode()
    assert values.trusted_certificates(f"system, {bundle}, {encoded}") == ("system", str(bundle), pem)
    with pytest.raises(ValueError, match="failed loading certificate from /no/such.pem"):
        values.trusted_certificates("/no/such.pem")


def test_control_plane_address():
    assert [str(a) for a in values.control_planes("cp.example.com")] == ["cp.example.com:443"]
    assert [str(a) for a in values.control_planes("[::1]:8005, cp2:8005")] == ["[::1]:8005", "cp2:8005"]
    with pytest.raises(ValueError, match="invalid port 0"):
        values.control_planes("cp:0")
