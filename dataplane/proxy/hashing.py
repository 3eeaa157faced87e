"""What a consistent-hashing upstream hashes on, taken from a request (Kong's
``get_value_to_hash``, kong/runloop/balancer/init.lua).

``HashSpec`` is built once per config version from the upstream's fields: ``hash_on`` and its
own field (``hash_on_header``, ``hash_on_query_arg``, ``hash_on_uri_capture``,
``hash_on_cookie``), then ``hash_fallback`` with its own (``hash_fallback_header``...), used
when the first gives no value. No value at all hashes the empty string, as Kong does (every
such request lands on one target). Values, per source:

- ``consumer``: the authenticated consumer's id, else the credential's;
- ``ip``: the client address (after ``real_ip_header`` for a trusted peer);
- ``header``: the header's values joined with ", " (present but empty counts: it is "");
- ``cookie``: the cookie's value; a request without it gets a new random value, which the
  response sets as ``<name>=<value>; Path=<hash_on_cookie_path>; Same-Site=Lax; HttpOnly``
  so that the client's next requests hash alike;
- ``path``: the request path normalised as the router normalises it (no query);
- ``query_arg``: the argument's value (``true`` for an argument without ``=``; several
  values sorted and joined with ","), percent-decoded, ``+`` read as a space;
- ``uri_capture``: the named capture of the route's regex path (Kong looks captures up by
  the name as a string, so a number names no capture).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from dataplane.schema.netaddr import normalize_path

if TYPE_CHECKING:
    from .phases import Exchange, Peer

# Kong's upstream fields of each source, for hash_on and for hash_fallback
_FIELDS = {
    "header": ("hash_on_header", "hash_fallback_header"),
    "query_arg": ("hash_on_query_arg", "hash_fallback_query_arg"),
    "uri_capture": ("hash_on_uri_capture", "hash_fallback_uri_capture"),
}
SOURCES = ("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture")


class HashSpec:
    """An upstream's hash sources, in order, each ``(source, its name field or None)``."""

    __slots__ = ("sources", "cookie", "cookie_path", "captures")

    def __init__(self, upstream: dict[str, Any]) -> None:
        self.sources: list[tuple[str, Any]] = []
        for position, field in enumerate(("hash_on", "hash_fallback")):
            source = upstream.get(field) or "none"
            if source == "none":
                break
            if source not in SOURCES:  # the schema's one_of keeps these out; never hashed on silently
                raise ValueError(f"upstream {upstream.get('name')}: {field} {source!r} is not one of {SOURCES}")
            name = upstream.get(_FIELDS[source][position]) if source in _FIELDS else None
            if source == "header" and name:
                name = name.lower().encode("latin-1")
            self.sources.append((source, name))
        self.cookie: str | None = upstream.get("hash_on_cookie")
        self.cookie_path: str = upstream.get("hash_on_cookie_path") or "/"
        # uri_capture needs the route's match: such requests are routed by the general lane
        self.captures = any(source == "uri_capture" for source, _ in self.sources)

    def value(self, exchange: Exchange, peer: Peer) -> bytes:
        """The value to hash for this request (b"" when no source gives one); a cookie made
        for it goes to ``peer.cookie``, as the Set-Cookie line of the response."""
        for source, name in self.sources:
            found = _READERS[source](self, exchange, peer, name)
            if found is not None:
                return found
        return b""


def _consumer(spec: HashSpec, exchange: Exchange, peer: Peer, name: Any) -> bytes | None:
    plugins = exchange.plugins
    if plugins is None:
        return None
    for entity in (plugins.consumer, plugins.credential):
        if entity and entity.get("id"):
            return str(entity["id"]).encode()
    return None


def _ip(spec: HashSpec, exchange: Exchange, peer: Peer, name: Any) -> bytes | None:
    return exchange.remote_addr.encode() if exchange.remote_addr else None


def _header(spec: HashSpec, exchange: Exchange, peer: Peer, name: bytes) -> bytes | None:
    return exchange.headers.values(name)


def cookie_value(header: bytes | None, name: bytes) -> bytes | None:
    """nginx's ``$cookie_<name>``: the first cookie of that name in the Cookie header."""
    if not header:
        return None
    for part in header.replace(b",", b";").split(b";"):
        key, eq, value = part.strip().partition(b"=")
        if eq and key == name:
            return value
    return None


def _cookie(spec: HashSpec, exchange: Exchange, peer: Peer, name: Any) -> bytes:
    cookie = (spec.cookie or "").encode("latin-1")
    found = cookie_value(exchange.headers.values(b"cookie"), cookie)
    if found is not None:
        return found
    value = str(uuid.uuid4()).encode()
    peer.cookie = b"Set-Cookie: %s=%s; Path=%s; Same-Site=Lax; HttpOnly\r\n" % (
        cookie,
        value,
        spec.cookie_path.encode("latin-1"),
    )
    return value


def with_cookie(head: bytes, line: bytes) -> bytes:
    """The client head with consistent-hashing's Set-Cookie ``line``: in place of the
    upstream's Set-Cookie for the same cookie name, as Kong replaces it, else added last."""
    cookie = line[len(b"Set-Cookie: ") : line.index(b"=") + 1]  # b"<name>=", case kept
    lines = head.split(b"\r\n")
    for i, existing in enumerate(lines):
        name, colon, value = existing.partition(b":")
        if colon and name.lower() == b"set-cookie" and value.lstrip().startswith(cookie):
            lines[i] = line[:-2]
            return b"\r\n".join(lines)
    return head[:-2] + line + b"\r\n"


def _path(spec: HashSpec, exchange: Exchange, peer: Peer, name: Any) -> bytes:
    url = exchange.url
    query_at = url.find(b"?")
    path = url if query_at < 0 else url[:query_at]
    return normalize_path(path.decode("latin-1")).encode("latin-1")


def query_arg(url: bytes, name: str) -> bytes | None:
    """Kong's normalised query argument: the value, ``true`` without ``=``, several sorted and
    joined with ","; None when absent."""
    query_at = url.find(b"?")
    if query_at < 0:
        return None
    values: list[str] = []
    for part in url[query_at + 1 :].decode("latin-1").split("&"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if unquote_plus(key) == name:
            values.append(unquote_plus(value) if eq else "true")
    if not values:
        return None
    return ",".join(sorted(values)).encode()


def _query_arg(spec: HashSpec, exchange: Exchange, peer: Peer, name: str) -> bytes | None:
    return query_arg(exchange.url, name)


def _uri_capture(spec: HashSpec, exchange: Exchange, peer: Peer, name: str) -> bytes | None:
    captures = getattr(exchange, "captures", None)
    if not captures:
        return None
    found = captures.get(name)
    return None if found is None else found.encode()


_READERS = {
    "consumer": _consumer,
    "ip": _ip,
    "header": _header,
    "cookie": _cookie,
    "path": _path,
    "query_arg": _query_arg,
    "uri_capture": _uri_capture,
}
