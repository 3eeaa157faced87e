"""Kong's ``*_listen`` syntax: ``off`` or comma-separated ``<addr>:<port> [flags...]`` entries.

The address is IPv4, ``[IPv6]``, a host name or ``*``; flags are whole words placed anywhere
in the entry: ssl, http2, proxy_protocol, deferred, bind, reuseport, backlog=N,
ipv6only=on|off, so_keepalive=on|off|[idle]:[intvl]:[cnt].
"""

import re
from dataclasses import dataclass

from . import types
from .addresses import HostType, parse_host_port

_SWITCHES = ("ssl", "http2", "proxy_protocol", "deferred", "bind", "reuseport")
_BACKLOG = re.compile(r"backlog=(\d+)")
_IPV6ONLY = re.compile(r"ipv6only=(on|off)")
_KEEPALIVE = re.compile(r"so_keepalive=(on|off|\w*:\w*:\d*)")
USAGE = (
    "must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] [bind] "
    "[reuseport] [backlog=%d+] [ipv6only=on] [ipv6only=off] [so_keepalive=on] "
    "[so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]"
)


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening socket. ``ip`` is an IPv4 address, a compressed IPv6 address without
    brackets, a host name, or ``*`` (every IPv4 address, as in nginx)."""

    ip: str
    port: int
    host_type: HostType
    ssl: bool = False
    http2: bool = False
    proxy_protocol: bool = False
    deferred: bool = False
    bind: bool = False
    reuseport: bool = False
    backlog: int | None = None
    ipv6only: bool | None = None
    so_keepalive: str | None = None
    listener: str = ""  # normalised text of the entry, for logs

    @property
    def bind_host(self) -> str:
        """The host to pass to ``socket.bind``."""
        return "0.0.0.0" if self.ip == "*" else self.ip


def _misfit(entry: str, words: list[str]) -> str:
    """Explain an entry without exactly one address: name the words that are no flag."""
    unknown = [word for word in words if not _looks_like_address(word)]
    if len(words) > 1 and len(unknown) == len(words) - 1:
        names = ", ".join(f"'{word}'" for word in unknown)
        return f"unknown flag {names} in '{entry}'"
    return f"invalid entry '{entry}', {USAGE}"


def _looks_like_address(word: str) -> bool:
    try:
        parse_host_port(word)
    except ValueError:
        return False
    return True


def _parse_entry(entry: str) -> Listener:
    flags: dict[str, object] = {}
    words: list[str] = []
    addresses: list[str] = []
    for word in entry.split():
        if word in _SWITCHES:
            flags[word] = True
        elif match := _BACKLOG.fullmatch(word):
            flags["backlog"] = int(match.group(1))
        elif match := _IPV6ONLY.fullmatch(word):
            flags["ipv6only"] = match.group(1) == "on"
        elif match := _KEEPALIVE.fullmatch(word):
            flags["so_keepalive"] = match.group(1)
        else:
            addresses.append(word)
            continue
        if word != "http2":  # like Kong, the normalised form drops http2 (nginx >= 1.25.1)
            words.append(word)
    if len(addresses) != 1:
        raise ValueError(_misfit(entry, addresses))
    address = parse_host_port(addresses[0])
    text = " ".join([str(address), *words])
    return Listener(
        address.host,
        address.port,
        address.host_type,
        listener=text,
        **flags,  # type: ignore[arg-type]  # each flag was given its own field's type above
    )


def parse_listeners(value: str) -> tuple[Listener, ...]:
    """Parse a ``*_listen`` value; ``off`` as the first entry means no listener at all."""
    entries = types.split_list(value)
    if not entries:
        raise ValueError(USAGE)
    if entries[0] == "off":
        return ()
    return tuple(_parse_entry(entry) for entry in entries)
