"""Name resolution for service and target hosts, cached per worker.

Order as Kong: the hosts file first (``dns_hostsfile``; its entries never expire), then DNS
through dnspython's async resolver (A, then AAAA when a name has no A record). Records live for
their TTL (or ``dns_valid_ttl``); once expired they are still served for ``dns_stale_ttl`` while
one background query refreshes them. Failures are cached too: ``dns_not_found_ttl`` for names
that do not exist, ``dns_error_ttl`` for server errors. Each lookup of a name with several
addresses takes the next one (round-robin).

The request path calls ``cached`` (a dict lookup) and awaits ``resolve`` only on a miss.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from .settings import ProxySettings

log = logging.getLogger("gantry.proxy.dns")


class NameNotFound(Exception):
    """The name has no address (NXDOMAIN or no A/AAAA record)."""


class ResolverError(Exception):
    """The DNS servers could not be asked or did not answer."""


class _Entry:
    __slots__ = ("addresses", "index", "expires", "stale_until", "error")

    def __init__(self, addresses: list[str], ttl: float, stale: float, error: Exception | None = None) -> None:
        now = time.monotonic()
        self.addresses = addresses
        self.index = 0
        self.expires = now + ttl
        self.stale_until = self.expires + stale
        self.error = error


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def read_hosts(path: str | None) -> dict[str, list[str]]:
    """Names to addresses from an /etc/hosts style file; unreadable means empty."""
    hosts: dict[str, list[str]] = {}
    if not path:
        return hosts
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = file.readlines()
    except OSError as err:
        log.warning("cannot read dns_hostsfile %s: %s", path, err)
        return hosts
    for line in lines:
        fields = line.partition("#")[0].split()
        if len(fields) < 2 or not is_ip(fields[0]):
            continue
        for name in fields[1:]:
            addresses = hosts.setdefault(name.lower(), [])
            if fields[0] not in addresses:
                addresses.append(fields[0])
    return hosts


class DnsCache:
    __slots__ = ("hosts", "entries", "resolver", "pending", "valid_ttl", "stale_ttl", "not_found_ttl", "error_ttl")

    def __init__(self, settings: ProxySettings) -> None:
        self.hosts = read_hosts(settings.dns_hostsfile)
        self.entries: dict[str, _Entry] = {}
        self.pending: dict[str, asyncio.Future[_Entry]] = {}
        self.valid_ttl = settings.dns_valid_ttl
        self.stale_ttl = settings.dns_stale_ttl
        self.not_found_ttl = settings.dns_not_found_ttl
        self.error_ttl = settings.dns_error_ttl
        self.resolver = dns.asyncresolver.Resolver(configure=not settings.dns_resolvers)
        if settings.dns_resolvers:
            self.resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in settings.dns_resolvers
            ]

    def cached(self, name: str) -> str | None:
        """The next address of a name known and fresh (or stale: a refresh is then started);
        None when ``resolve`` must be awaited. Raises the cached failure of a name that failed."""
        fixed = self.hosts.get(name)
        if fixed is not None:
            return _next(fixed, name, self.entries)
        entry = self.entries.get(name)
        if entry is None:
            return None
        now = time.monotonic()
        if now >= entry.expires:
            if entry.error is not None or now >= entry.stale_until:
                return None
            if name not in self.pending:
                self._start(name)  # serve stale while one query refreshes it
        if entry.error is not None:
            raise entry.error
        address = entry.addresses[entry.index % len(entry.addresses)]
        entry.index += 1
        return address

    def known(self, name: str) -> list[str]:
        """The addresses the cache holds for ``name`` (hosts file or an answer), fresh or not;
        nothing is queried or refreshed."""
        fixed = self.hosts.get(name)
        if fixed is not None:
            return fixed
        entry = self.entries.get(name)
        return entry.addresses if entry is not None and entry.error is None else []

    async def resolve(self, name: str) -> str:
        """The next address of ``name``, querying DNS when the cache cannot answer."""
        address = self.cached(name)
        if address is not None:
            return address
        future = self.pending.get(name) or self._start(name)
        entry = await asyncio.shield(future)
        if entry.error is not None:
            raise entry.error
        address = entry.addresses[entry.index % len(entry.addresses)]
        entry.index += 1
        return address

    def _start(self, name: str) -> asyncio.Future[_Entry]:
        future = asyncio.ensure_future(self._query(name))
        self.pending[name] = future
        future.add_done_callback(lambda _: self.pending.pop(name, None))
        return future

    async def _query(self, name: str) -> _Entry:
        entry = None
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(name, rdtype)
            except dns.resolver.NXDOMAIN:
                break
            except dns.resolver.NoAnswer:
                continue
            except (dns.exception.DNSException, OSError) as err:
                entry = _Entry([], self.error_ttl, 0.0, ResolverError(f"dns server error: {err}"))
                break
            rrset = answer.rrset
            if rrset is None:  # resolve() raises NoAnswer for that unless told not to
                continue
            ttl = self.valid_ttl if self.valid_ttl is not None else float(rrset.ttl)
            entry = _Entry([record.address for record in answer], ttl, self.stale_ttl)
            break
        if entry is None:
            entry = _Entry([], self.not_found_ttl, 0.0, NameNotFound(f"{name}: name error"))
        previous = self.entries.get(name)
        if (
            entry.error is not None
            and previous is not None
            and previous.addresses
            and time.monotonic() < previous.stale_until
        ):
            log.warning("dns refresh of %s failed, serving stale records: %s", name, entry.error)
            return previous
        self.entries[name] = entry
        return entry


def _next(addresses: list[str], name: str, entries: dict[str, _Entry]) -> str:
    if len(addresses) == 1:
        return addresses[0]
    entry = entries.get(name)
    if entry is None:
        entry = entries[name] = _Entry(addresses, float("inf"), 0.0)
    address = addresses[entry.index % len(addresses)]
    entry.index += 1
    return address
