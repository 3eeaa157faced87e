"""Host, ip and uri helpers with Kong's semantics (kong/tools/ip.lua, kong/tools/uri.lua)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from dataplane.conf.addresses import host_type

_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d+))?$")
_HOSTNAME = re.compile(r"^[0-9A-Za-z\-._]+$")
_HEX4 = re.compile(r"^[0-9A-Fa-f]{1,4}$")


@dataclass(frozen=True)
class Address:
    type: str  # ipv4 ipv6 name
    host: str
    port: int | None


class AddressError(ValueError):
    pass


def _port(text: str) -> int:
    port = int(text)
    if port > 65535:
        raise AddressError("invalid port number")
    return port


def _ipv4(address: str) -> Address:
    m = _IPV4.match(address)
    if not m or (":" in address and m.group(5) is None):
        raise AddressError(f"invalid ipv4 address: {address}")
    octets = [int(x) for x in m.groups()[:4]]
    if any(o > 255 for o in octets):
        raise AddressError(f"invalid ipv4 address: {address}")
    port = _port(m.group(5)) if m.group(5) else None
    return Address("ipv4", ".".join(map(str, octets)), port)


def _ipv6(address: str) -> Address:
    port = None
    m = re.match(r"^\[([^\]]*)\](.*)$", address)
    if m:
        check, rest = m.group(1), m.group(2)
        if rest:
            pm = re.fullmatch(r":(\d*)", rest)
            if not pm or not pm.group(1):
                raise AddressError("invalid ipv6 address")
            port = _port(pm.group(1))
    else:
        check = address
    if check.startswith(":"):
        check = "0" + check
    if check.endswith(":"):
        check += "0"
    if "::" in check:
        check = check.replace("::", ":" + "0:" * (8 - check.count(":")), 1)
    parts = check.split(":")
    if len(parts) != 8 or not all(_HEX4.match(p) for p in parts):
        raise AddressError(f"invalid ipv6 address: {address}")
    return Address("ipv6", ":".join(p.lower().rjust(4, "0") for p in parts), port)


def _name(address: str) -> Address:
    name, port = address, None
    m = re.search(r":(\d+)$", address)
    if m:
        name, port = address[: m.start()], _port(m.group(1))
    if not _HOSTNAME.match(name):
        raise AddressError(f"invalid hostname: {address}")
    segments = name.split(".")
    for i, seg in enumerate(segments, start=1):
        if seg.endswith("-") or (seg == "" and i != len(segments)):
            raise AddressError(f"invalid hostname: {address}")
    return Address("name", name, port)


def normalize_ip(address: str) -> Address:
    """Kong's `normalize_ip`: ipv4, ipv4:port, ipv6, [ipv6]:port, name, name:port."""
    return {"ipv4": _ipv4, "ipv6": _ipv6, "name": _name}[host_type(address)](address)


def format_host(addr: Address, default_port: int | None = None) -> str:
    port = addr.port if addr.port is not None else default_port
    host = f"[{addr.host}]" if addr.type == "ipv6" else addr.host
    return host + (f":{port}" if port is not None else "")


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_ip_or_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text or is_ip(text)


def is_ip_or_cidr_v4(text: str) -> bool:
    try:
        ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return False
    return True


_RESERVED = set(b"!*'();:@&=+$,/?%#[]")


def _decode(m: re.Match[str]) -> str:
    num = int(m.group(1), 16)
    return m.group(0).upper() if num in _RESERVED else chr(num)


def normalize_path(uri: str) -> str:
    """Kong's `uri.normalize(uri, true)`: decode unreserved %XX, drop dot segments, merge //."""
    if uri in ("", "/"):
        return uri
    if "%" in uri:
        uri = re.sub(r"%([0-9A-Fa-f]{2})", _decode, uri)
    out: list[str] = []
    while uri:
        if uri == "/.":
            uri = "/"
        elif uri == "/..":
            uri = "/"
            if out:
                out.pop()
        elif uri in (".", ".."):
            uri = ""
        elif uri.startswith("../"):
            uri = uri[3:]
        elif uri.startswith("./") or uri.startswith("/./"):
            uri = uri[2:]
        elif uri.startswith("/../"):
            uri = uri[3:]
            if out:
                out.pop()
        elif uri.startswith("//"):
            uri = uri[1:]
        else:
            i = uri.find("/", 1)
            if i == -1:
                out.append(uri)
                uri = ""
            else:
                out.append(uri[:i])
                uri = uri[i:]
    return "".join(out)
