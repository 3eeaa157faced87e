"""ip-restriction: requests allowed or refused by the client's address (Kong's
kong/plugins/ip-restriction).

The address is the one Kong's nginx calls ``$remote_addr``: the peer's, or the ``real_ip_header``
value when the peer is in ``trusted_ips`` (``kong.client.get_forwarded_ip()``). ``deny`` is
checked first; with an ``allow`` list, an address outside it is refused too. Entries are IPv4 or
IPv6 addresses or CIDR ranges; an address never matches a range of the other family.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from dataplane.schema import Field, typedefs as t
from dataplane.schema.checks import Custom
from dataplane.schema.fields import record

priority = 990
version = "3.10.0"

NO_ADDRESS = "Cannot identify the client IP address, unix domain sockets are not supported."
# Kong's entity check names the fields from the plugin entity's top; Gantry checks the config
# record, so the message keeps Kong's words
AT_LEAST_ONE = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _allow_or_deny(config: dict[str, Any]) -> str | None:
    return None if config.get("allow") or config.get("deny") else AT_LEAST_ONE


Schema = record(
    ("allow", Field("array", elements=t.ip_or_cidr)),
    ("deny", Field("array", elements=t.ip_or_cidr)),
    ("status", Field("number")),
    ("message", Field("string")),
    required=True,
    entity_checks=(Custom(("allow", "deny"), _allow_or_deny),),
)


def networks(entries: Iterable[str] | None) -> tuple[Network, ...]:
    """The ranges of a config list (an address is its own /32 or /128; host bits are ignored,
    as Kong's ipmatcher does)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries or ())


def matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address, ranges: tuple[Network, ...]) -> bool:
    return any(address in network for network in ranges)


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.allow = networks(config.get("allow"))
        self.deny = networks(config.get("deny"))
        status = config.get("status")
        self.status = int(status) if isinstance(status, float) and status.is_integer() else status or 403
        self.message: str | None = config.get("message")

    def access(self, kong: Any) -> None:
        client = kong.client.get_forwarded_ip()
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            self._refuse(kong, 403, NO_ADDRESS)
            return
        if (self.deny and matches(address, self.deny)) or (self.allow and not matches(address, self.allow)):
            self._refuse(kong, self.status, self.message or f"IP address not allowed: {client}")

    def _refuse(self, kong: Any, status: int, message: str) -> None:
        kong.log.warn(message)
        kong.response.error(status, message)
