"""``trusted_ips``: the peers whose forwarding headers (X-Real-IP, X-Forwarded-*, PROXY
protocol) are believed."""

import ipaddress
from dataclasses import dataclass

from . import types

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TrustedIps:
    networks: tuple[Network, ...] = ()
    unix: bool = False  # clients on unix sockets ('unix:' entry)

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def parse_trusted_ips(value: str) -> TrustedIps:
    networks: list[Network] = []
    unix = False
    for entry in types.split_list(value):
        if entry == "unix:":
            unix = True
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            # Kong's wording
            raise ValueError(
                "must be a comma separated list in the form of IPv4 or IPv6 address or "
                f"CIDR block or 'unix:', got '{entry}'"
            ) from None
    return TrustedIps(tuple(networks), unix)
