"""The client address as nginx's realip module computes it for Kong.

``set_real_ip_from`` is ``trusted_ips``. When the connecting peer is trusted, the address is
taken from ``real_ip_header``: its right-most entry, or with ``real_ip_recursive`` the right-most
entry that is not itself trusted (the left-most when all are). Anything unparsable keeps the
address found so far.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .settings import Network


def parse_ip(text: str) -> str | None:
    """An IP from ``ip``, ``ipv4:port`` or ``[ipv6]:port``; None when it is not one."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def is_trusted(address: str, networks: Sequence[Network]) -> bool:
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def real_ip(peer: str, header_value: str | None, networks: Sequence[Network], recursive: bool) -> str:
    """``$remote_addr`` after realip, given the connecting ``peer`` (already known trusted or
    not by the caller: call only when ``is_trusted(peer)``)."""
    if not header_value:
        return peer
    entries = [entry for entry in header_value.replace(" ", ",").split(",") if entry]
    address = peer
    while entries:
        candidate = parse_ip(entries.pop())
        if candidate is None:
            return address
        address = candidate
        if not recursive or not is_trusted(address, networks):
            return address
    return address
