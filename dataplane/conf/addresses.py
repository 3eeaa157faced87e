"""Host and port notation shared by listeners, DNS servers and the control-plane address,
classified the way Kong does: more than one colon is IPv6, digits and dots are IPv4, anything
else is a name."""

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

HostType = Literal["ipv4", "ipv6", "name"]

_IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d+))?")
_BRACKETED_IPV6 = re.compile(r"\[([^\]]+)\](?::(\d+))?")
_NAME = re.compile(r"(\*|[A-Za-z0-9_.-]+)(?::(\d+))?")


@dataclass(frozen=True, slots=True)
class HostPort:
    """An address with its port; IPv6 hosts are kept compressed and without brackets."""

    host: str
    port: int
    host_type: HostType

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.host_type == "ipv6" else self.host
        return f"{host}:{self.port}"


def host_type(text: str) -> HostType:
    if text.count(":") > 1:
        return "ipv6"
    if re.fullmatch(r"[\d.]+", text.replace(":", "")):
        return "ipv4"
    return "name"


def _port(text: str | None, default: int | None, whole: str) -> int:
    if text is None:
        if default is None:
            raise ValueError(f"missing port in '{whole}'")
        return default
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"invalid port {port} in '{whole}'")
    return port


def parse_host_port(text: str, default_port: int | None = None, allow_name: bool = True) -> HostPort:
    """Parse ``ipv4[:port]``, ``[ipv6][:port]``, bare ``ipv6`` or ``name[:port]``.

    Without ``default_port`` the port is mandatory.
    """
    kind = host_type(text)
    if kind == "ipv6":
        bracketed = _BRACKETED_IPV6.fullmatch(text)
        address, port = (bracketed.group(1), bracketed.group(2)) if bracketed else (text, None)
        try:
            host = ipaddress.IPv6Address(address).compressed
        except ValueError:
            raise ValueError(f"invalid ipv6 address '{text}'") from None
        return HostPort(host, _port(port, default_port, text), "ipv6")
    if kind == "ipv4":
        match = _IPV4.fullmatch(text)
        octets = [int(part) for part in match.groups()[:4]] if match else []
        if not match or any(octet > 255 for octet in octets):
            raise ValueError(f"invalid ipv4 address '{text}'")
        host = ".".join(map(str, octets))  # Kong drops leading zeros the same way
        return HostPort(host, _port(match.group(5), default_port, text), "ipv4")
    match = _NAME.fullmatch(text)
    if not allow_name or not match:
        raise ValueError(f"invalid address '{text}'")
    return HostPort(match.group(1), _port(match.group(2), default_port, text), "name")
