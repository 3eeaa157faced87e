"""Typed stub of the native module `dataplane._core` (Rust, see rust/src/py/).

Everything here is a thin handle over pure-Rust code; no call made on the request path calls
back into Python.
"""

import os
from collections.abc import Iterator, Sequence
from typing import ClassVar, Self, final

# Checked against the built module by `make stubtest`: a name missing on either side fails it.
# Constructors are `__new__`, the method the native classes define; none can be subclassed.
__all__ = [
    "ActiveChecks",
    "Balancer",
    "ChunkedBodyError",
    "ChunkedDecoder",
    "ClientHeadFilter",
    "CoreError",
    "Downstream",
    "HttpHeadError",
    "InflightCounts",
    "RequestFields",
    "RequestHead",
    "RequestPlanner",
    "RequestRefused",
    "ResponseHead",
    "RouteMatch",
    "Router",
    "RouterError",
    "SharedCounters",
    "SharedMemoryError",
    "Snapshot",
    "Store",
    "StoreError",
    "apply_header_ops",
    "format_access_line",
    "new_request_id",
    "parse_response_head",
    "seed_request_ids",
    "set_target_health",
]

class CoreError(Exception):
    """Base class of every error raised by the native core."""

class RouterError(CoreError):
    """A route cannot be compiled; the message names the route (id or name) and the field."""

class StoreError(CoreError):
    """The LMDB environment cannot be opened or read, or holds an incompatible format."""

class HttpHeadError(CoreError):
    """An HTTP head that cannot be parsed; the message says why."""

class ChunkedBodyError(CoreError, ValueError):
    """A malformed chunked body; the message says what is wrong ("invalid chunk size",
    "chunk data not followed by CRLF", "forbidden trailer field Content-Length", ...)."""

@final
class RouteMatch:
    """The result of one router lookup. Immutable."""

    route_id: str
    service_id: str | None
    upstream_path: str
    """Path (no query string) to send upstream: service path + request path after strip_path,
    joined per the route's path_handling (v0 or v1), exactly as Kong builds `upstream_uri`."""
    preserve_host: bool
    request_buffering: bool
    """The route's `request_buffering`: the whole body is read before the upstream gets anything."""
    https_redirect_status: int | None
    """Set when the route accepts only https and the request came over http."""
    forwarded_prefix: str | None
    """The request-path prefix removed by strip_path (sent upstream as X-Forwarded-Prefix)."""
    captures: dict[str | int, str] | None
    """Regex path captures, numbered (int keys, 0 = whole match) and named (str keys)."""

@final
class Router:
    """Routes compiled once per config version; `find` is one call per request."""

    @staticmethod
    def from_json(routes: list[bytes], services: list[bytes], cache_size: int = 4096) -> Router:
        """Compile routes (JSON objects, Kong's route fields) against their services."""
    header_names: list[str]
    """Lower-case names of the headers some route matches on; `find` needs only these."""
    def find(
        self,
        method: str,
        scheme: str,
        host: str,
        path: str,
        sni: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> RouteMatch | None:
        """Match a request. `host` is the Host header as received (may carry a port), `path`
        the raw request path without the query string, `scheme` "http" or "https"."""
    def __len__(self) -> int: ...

@final
class Balancer:
    """Spreads requests for one upstream over its targets with the upstream's algorithm
    (round-robin, consistent-hashing, least-connections, latency). A pick names a live target
    (weight above 0) by its slot, 0 to `live` - 1."""

    @staticmethod
    def from_json(upstream: bytes, targets: list[bytes]) -> Balancer:
        """Raises CoreError for a target that is not an address, an algorithm that is not
        Kong's, a consistent-hashing ring with too few `slots` for its targets, and health
        checks or `use_srv_name`, which are not run."""
    name: str
    algorithm: str
    live: int
    """How many targets have a weight above 0."""
    healthy: bool
    """Kong's balancer health: some weight, whose healthy share (of the targets the health
    checks have not marked down) is strictly above `healthchecks.threshold`; an unhealthy
    balancer picks nothing."""
    def pick(self) -> tuple[str, int] | None:
        """The next target as (host, port), nothing recorded (round-robin's pick; the others
        pick as `peer` with an empty value and no in-flight count); None when no target has a
        weight above 0."""
    def peer(self, value: bytes = ..., tried: list[int] = ...) -> tuple[int, str, int] | None:
        """`(slot, host, port)` for one try of a request: `value` is what consistent-hashing
        hashes, `tried` the slots of the request's earlier tries, passed over while another is
        left (least-connections then goes back to the least loaded; the others give None).
        least-connections counts the request on the slot, node-wide, until `release`."""
    def release(self, slot: int, rtt: float | None = None, outcome: int = 0) -> None:
        """A try on `slot` ended: least-connections stops counting it; `rtt` (seconds from the
        connect to the response's end) goes into latency's average of the slot; `outcome`
        goes to the passive health checks: an HTTP status (504 counts as a timeout), -1 a
        connection that failed, -2 a timeout, 0 nothing."""
    checks_health: bool
    """The upstream runs passive health checks (an unhealthy limit above 0)."""
    def target_health(self) -> list[tuple[str, int, bool]]:
        """Each live target as (host, port, healthy) as the node's health table has it; empty
        without health checks."""
    def in_flight(self, slot: int) -> int:
        """least-connections: requests in flight on the slot, counted by every worker."""
    def address(self, slot: int) -> tuple[str, int] | None:
        """The (host, port) of a live slot."""
    def inherit(self, previous: Balancer) -> None:
        """Take over what the upstream's balancer of the previous config learnt (latency's
        averages, by address; a new target starts at their mean)."""
    def targets(self) -> list[tuple[str, int, int]]:
        """Every target as (host, port, weight), weight-0 targets included."""

@final
class ActiveChecks:
    """The node's active health checks (rust/src/balancer/active.rs): one native thread
    probing the targets of the upstreams whose `healthchecks.active` intervals are above 0, at
    those intervals, into the health table of the installed `InflightCounts`."""

    def __new__(cls, trusted: Sequence[str] = ...) -> Self:
        """Starts the thread, probing nothing yet; https probes verify certificates against
        `trusted`, `lua_ssl_trusted_certificate`'s entries ("system", the default, PEM files or
        PEM text). CoreError when a file cannot be read or holds no certificate."""
    def configure(self, upstreams: list[bytes], targets: list[bytes]) -> int:
        """What to probe from now on (JSON entities); a target kept with the same settings
        keeps its schedule. Returns how many targets are probed."""
    rounds: tuple[int, int]
    """(rounds run, rounds that panicked and were carried on from)."""
    def stop(self) -> None:
        """Stops the thread, once the probes in flight end."""

def set_target_health(upstream: bytes, target: str, healthy: bool, address: str | None = None) -> bool | None:
    """Kong's `PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy` on this node: the
    target's word in the node's health table (the installed `InflightCounts`) set, its
    counters cleared, for every worker at once. `upstream` is the upstream's JSON as the node
    serves it, `target` the target's `target`. None when the upstream runs no health checks;
    False when `address` (ip[:port] or a name, port 8000 by default) is not the target's,
    nothing changed; True once set. CoreError for a target that cannot be parsed."""

@final
class InflightCounts:
    """The node's in-flight request counts of least-connections (rust/src/shm/inflight.rs): a
    file every worker maps, a count per (upstream, target), and a column per worker holding
    its own share so that a dead worker's counts can be given back."""

    DEFAULT_SLOTS: ClassVar[int]
    @staticmethod
    def create(path: str | os.PathLike[str], workers: int | None = None, slots: int | None = None) -> InflightCounts:
        """Makes the file afresh, with a column for each of `workers` (64 by default)."""
    @staticmethod
    def open(path: str | os.PathLike[str]) -> InflightCounts: ...
    @property
    def slots(self) -> int: ...
    @property
    def workers(self) -> int: ...
    @property
    def path(self) -> str: ...
    def recover(self, worker: int) -> int:
        """Gives back every count column `worker` holds (its previous process died); returns
        how many."""
    def install(self, worker: int) -> None:
        """The least-connections balancers built from now on in this process count here, in
        column `worker`."""

@final
class Snapshot:
    """One config version read from LMDB in one read transaction, compiled."""

    version: int
    hash: str
    hashes: dict[str, str]
    router: Router
    balancers: dict[str, Balancer]
    """By upstream name. After a load with `previous`, the balancer of an upstream that did not
    change, nor did its targets, is the same object as in `previous`."""
    def entities(self, entity_type: str) -> list[bytes]:
        """The JSON of every entity of a type ("services", "plugins", ...), in key order."""
    def entity(self, entity_type: str, id: str) -> bytes | None:
        """The JSON of one entity, or None when not stored."""
    def changed(self, entity_type: str) -> tuple[list[bytes], list[str]] | None:
        """What changed in a type since the `previous` snapshot this one was loaded against: the
        JSON of the entities added or changed, and the ids of those removed (both empty when
        the type did not change). None when loaded without `previous`: everything is new."""

@final
class Store:
    """Read-only handle on the LMDB environment written by `dataplane.lmdb_cache`."""

    def __new__(cls, path: str) -> Self: ...
    def meta(self) -> tuple[int, str] | None:
        """(version, hash) of the committed config, or None when none is stored."""
    def load(self, cache_size: int = 4096, previous: Snapshot | None = None) -> Snapshot:
        """Read and compile the committed config. With `previous` (the snapshot loaded
        before), only the entities the last delta changed are read when it was applied to
        exactly `previous`'s config (else each stored entity's JSON is compared with the one
        `previous` read), and only what changed is decoded and compiled: its router is updated with the changed routes
        (and the routes of changed services), or reused as the same object when no route or
        service changed; its balancers are reused except those of the upstreams that changed
        or whose targets did. `Snapshot.changed` tells what changed."""

@final
class ResponseHead:
    """An upstream response head sorted for the header filter. Immutable; the parsed head stays
    native and each field is converted when read."""

    status: int
    length: int
    """Bytes of the head, the blank line included: the body (or the next response) starts here."""
    forwarded: bytes
    """The `Name: value\r\n` lines sent on to the client as received: everything but the
    hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade,
    Trailer, those Connection names), Content-Length and Via."""
    content_length: bytes | None
    chunked: bool
    """The upstream framed the body with Transfer-Encoding."""
    via: bytes | None
    """Via values, joined with ", "."""
    has_server: bool
    has_date: bool
    closes: bool
    """Connection lists `close`: the connection must not be reused."""
    plain: bool
    """A final head the proxy's fast lane may frame without llhttp: plain bytes (printable
    ASCII, tabs, CRLF line ends), status 2xx-5xx, at most one Content-Length of digits, no
    Transfer-Encoding, a Connection made of tokens."""
    body_length: int | None
    """For a plain head: the body length its framing gives (Content-Length; 0 for 204 and 304);
    None when the body ends only when the upstream closes, or the head is not plain."""
    reusable: bool
    """For a plain head: llhttp's keep-alive verdict and no `close`: the connection may be
    pooled once the response is read."""

def apply_header_ops(
    after: bytes, ops: list[tuple[int, bytes, bytes]], content_length: int | None = None, response: bool = False
) -> bytes:
    """The upstream head's fields (``after``: from the CRLF after Host to the blank line) changed
    by plugins' ops, ``(kind, name, value)`` as ``dataplane.pdk.headers`` records them, in order;
    with ``content_length``, the framing fields replaced by that length. ``ValueError`` (nothing
    applied) for an unknown kind, a name that is not a token or names a framing, per-hop or Host
    field, a value with CR, LF or another control byte, or ``after`` not such a part. With
    ``response``, ``after`` is the client's response head after its status line, where any
    token may be changed (``kong.response.set_header``)."""

def parse_response_head(data: bytes) -> ResponseHead | None:
    """The response head at the start of `data`, or None while it is incomplete. Raises
    `HttpHeadError` for what is not an HTTP/1.x response head or has more than 256 fields.
    A head that is not `plain` is only extracted: llhttp decides its validity and framing."""

@final
class ChunkedDecoder:
    """One chunked message body (RFC 9112 section 7.1), decoded as its bytes arrive, split
    anywhere. Strict: what it accepts, llhttp in strict mode accepts and frames the same way
    (1 to 16 hex digits of size; `;name[=value]` extensions of tokens or quoted strings, no
    whitespace; CRLF exactly; trailer fields of a token name and VCHAR/SP/HTAB/obs-text value,
    none of Content-Length, Transfer-Encoding, Host, Connection, Proxy-Connection, Keep-Alive,
    Upgrade, TE, Trailer)."""

    def __new__(cls, max_line: int = 4096, max_trailers: int = 16384) -> Self:
        """`max_line`: most bytes of a chunk-size line, extensions included, CRLF not;
        `max_trailers`: most bytes of the trailer field lines, their CRLFs included, the final
        CRLF not. Nothing else is buffered."""
    def feed(self, data: bytes) -> tuple[bytes, int]:
        """`(payload, end)`: the chunk data in `data`, joined, and the offset in `data` just
        past the message's final CRLF, -1 while the message is not complete (0 when it ended
        in an earlier call). Bytes from `end` on are not part of the message. Raises
        `ChunkedBodyError` for a malformed body or one past a limit; the decoder then raises it
        again on every call."""
    done: bool
    """The message is complete."""
    trailers: list[tuple[bytes, bytes]]
    """The trailer fields, names as received, values trimmed; empty until `done`."""

@final
class ClientHeadFilter:
    """The header filter's default work (Kong's): the head sent to the client for an upstream
    head. What is fixed for a worker is given once."""

    def __new__(
        cls,
        status_lines: list[bytes],
        via: bytes | None,
        server_line: bytes | None,
        upstream_latency: bool,
        proxy_latency: bool,
        request_id: bool,
    ) -> Self:
        """`status_lines`: `HTTP/1.1 <code> <reason>\r\n` for codes 100-999 in order; `via`: the
        token this gateway appends to Via, None when Via is off; `server_line`: the whole
        `Server: ...\r\n` line added when the upstream sent none, None when off; the flags turn
        on X-Kong-Upstream-Latency, X-Kong-Proxy-Latency and X-Kong-Request-Id."""
    def date_line(self) -> bytes:
        """`Date: <IMF-fixdate>\r\n` for the current second (formatted once a second)."""
    def relay(
        self,
        data: bytes,
        head_request: bool,
        http10_client: bool,
        keep_alive: bool,
        upstream_latency_ms: int,
        proxy_latency_ms: int,
        request_id: bytes,
    ) -> tuple[int, int, int, bool, bytes, bool, bool] | None:
        """The fast lane's response side in one call: when the upstream head at the start of
        `data` is whole, `plain` and has a `body_length`, `(head length, status, body length
        (0 for HEAD), reusable, client head, chunked, keep_alive)` with the client head as
        `build` makes it; otherwise None and the general lane reads the response."""
    def build(
        self,
        head: ResponseHead,
        head_request: bool,
        http10_client: bool,
        keep_alive: bool,
        upstream_latency_ms: int,
        proxy_latency_ms: int,
        request_id: bytes,
        upgrade: bool,
    ) -> tuple[bytes, bool, bool]:
        """`(head, chunked, keep_alive)`: nginx's status line, the upstream's forwardable fields,
        the framing for this client (Content-Length as received; else nothing for HEAD, 204 and
        304; else chunked for HTTP/1.1; else close-delimited, which ends keep-alive),
        Connection, Via, Server and Date when the upstream sent none, the enabled Kong headers.
        `chunked`: the body is to be re-chunked; `keep_alive`: the connection stays open.
        `upgrade`: the client asked for WebSocket; a 101 then gets `Connection: upgrade` and the
        upstream's `Upgrade` instead of framing and keep-alive."""

class RequestRefused(CoreError):
    """A client request head that cannot be read: `args` are `(status, reason)`, the status
    Kong answers it with (400, or 414 and 431 for a head growing past the limits)."""

class SharedMemoryError(CoreError):
    """A node-wide shared memory table cannot be opened or used: its file is missing or is not
    a table, every slot a new key may take holds a live counter (full), or a slot stays claimed
    by a process that died mid-claim."""

@final
class SharedCounters:
    """Windowed counters every process mapping one file shares (rust/src/shm/counters.rs):
    lock-free, a count checked against its limit and added in one atomic step. A counter is a
    key and the end of its window (unix seconds); once the window is over, its slot may be
    taken by another key."""

    DEFAULT_BYTES: ClassVar[int]
    """The region's size when no slot count is given (12 MiB, Kong's shared dict size)."""
    @staticmethod
    def create(path: str | os.PathLike[str], slots: int | None = None) -> SharedCounters:
        """Makes the table's file afresh (one already there is replaced, not reused)."""
    @staticmethod
    def open(path: str | os.PathLike[str]) -> SharedCounters:
        """Maps the table another process created."""
    @staticmethod
    def private(slots: int | None = None) -> SharedCounters:
        """A table of this process alone (anonymous memory)."""
    @property
    def slots(self) -> int: ...
    @property
    def path(self) -> str:
        """The file mapped, or "anonymous"."""
    def increment(self, key: str, n: int, limit: int, expires_at: int, now: int) -> tuple[bool, int]:
        """`(True, count)` once `n` is added to the key's window, `(False, count)` unchanged when
        that would pass `limit`; `now` says which other windows are over."""
    def get(self, key: str, expires_at: int) -> int:
        """The window's count, 0 when the key has none."""
    def decrement(self, key: str, n: int, expires_at: int) -> None:
        """Takes back `n` (not below 0): undoes an increment a later check refused."""
    def live(self, now: int) -> int:
        """How many slots hold a window not over at `now`."""

@final
class Downstream:
    """One client connection, made once when it opens."""

    def __new__(cls, peer: bytes, port: bytes, https: bool, sni: str | None, trusted: bool) -> Self:
        """`peer`: the client's address; `port`: the local port the request came in on;
        `trusted`: the peer is in `trusted_ips` (its X-Forwarded-* headers count)."""
    https: bool
    sni: str | None
    trusted: bool

@final
class RequestHead:
    """One client request head as `RequestPlanner.plan` read it. Immutable."""

    length: int
    """Bytes of the head, blank line included: the body (or the next request) starts here."""
    method: bytes
    url: bytes
    """Origin-form target: path and query as received (an absolute-form target reduced to them)."""
    version: bytes
    """b"1.1" or b"1.0"."""
    keep_alive: bool
    """llhttp's verdict for a plain head; for another the proxy asks llhttp itself."""
    headers: RequestFields
    """Every field kept (names with an underscore left out unless `underscores` was set)."""
    host: bytes | None
    host_name: bytes
    """nginx's `$host`: the Host value lower-cased, without its port (empty without Host)."""
    host_text: str
    content_length: int | None
    chunked: bool
    connection: bytes | None
    x_forwarded_for: bytes | None
    via: bytes | None
    """Each: the values of the field joined with ", "."""
    te_trailers: bool
    """TE lists `trailers`."""
    expect_continue: bool
    """`Expect: 100-continue` on HTTP/1.1 (ignored from HTTP/1.0, RFC 9110 section 10.1.1)."""
    upgrade: bool
    """llhttp's upgrade flag (Upgrade with an `upgrade` Connection token); never with a body."""
    websocket: bool
    """An upgrade to WebSocket on HTTP/1.1."""
    forwarded: bytes | None
    """The fields sent upstream as received, as `Name: value\r\n` lines (all but Host,
    Content-Length, Transfer-Encoding, Connection and the names it lists, Proxy-Connection,
    Expect, Upgrade, TE, X-Forwarded-For, Via and the `dropped` names); None when planned."""
    plain: bool
    """Plainly valid, a strict subset of what llhttp in strict mode accepts (plain bytes,
    GET/HEAD/POST/PUT/DELETE/PATCH/OPTIONS, origin-form target of RFC 3986 characters, no
    Transfer-Encoding, Expect, Upgrade or Proxy-Connection, a Connection of tokens): read and
    framed without llhttp. Any other head must also be accepted by llhttp."""
    refusal: tuple[int, str] | None
    """Set when the head is whole but refused: `(status, reason)` (400; 405 for CONNECT and
    TRACE; 413 for a Content-Length beyond `body`; 414; 431). Never planned."""
    request_id: bytes
    """A new id for the request."""
    service: object | None
    """Planned: the object of the matched route's service (else None)."""
    preserve_host: bool
    upstream_before: bytes | None
    upstream_after: bytes | None
    """Planned: the upstream request head is `upstream_before + <Host value> + upstream_after`."""

@final
class RequestPlanner:
    """The proxy's request side: one call reads a client head and, when it is plain and
    routable, routes it and builds the upstream request head (Kong's access-phase default).
    Also builds the upstream head of an unplanned head, so every request shares one
    implementation."""

    def __new__(
        cls,
        request_line: int,
        header_line: int,
        head: int,
        body: int,
        dropped: list[bytes],
        underscores: bool,
        inbound_via: tuple[bytes, bytes],
        server_name: bytes,
        request_id_upstream: bool,
    ) -> Self:
        """Limits in bytes (`body` is client_max_body_size, 0 for none); `dropped`: the header
        names never forwarded (the proxy's table in `dataplane.proxy.forwarding`);
        `underscores`: nginx's underscores_in_headers (off: names with `_` are left out);
        `inbound_via`: the Via token this gateway appends for HTTP/1.1 and HTTP/1.0 requests;
        `server_name`: X-Forwarded-Host without a Host; `request_id_upstream`: X-Kong-Request-Id
        goes upstream. Without `routed`, no head is planned."""
    def routed(self, router: Router, services: dict[str, object], unplanned: list[str] = ...) -> RequestPlanner:
        """A planner with the same rules routing with `router`; `services`: the objects handed
        back for a planned head, by service id; a head routed to a route or service whose id is
        in `unplanned` (a plugin may see its requests) is not planned."""
    def plan(self, data: bytes, downstream: Downstream) -> RequestHead | None:
        """The head at the start of `data`; None while it is incomplete (within the limits).
        Raises `RequestRefused` for a head that cannot be read. The head is planned when this
        planner routes, it is plain and not refused, the connection is not trusted, a route
        matched, it has a service known here, does not redirect to https and buffers request
        bodies (`request_buffering`, so a planned request's body is always read whole first)."""
    def upstream_head(
        self,
        head: RequestHead,
        route: RouteMatch,
        downstream: Downstream,
        trusted: tuple[bytes | None, bytes | None, bytes | None, bytes | None, bytes | None, bytes | None] | None,
        request_id: bytes,
    ) -> tuple[bytes, bytes]:
        """`(before, after)`: the upstream request head of an unplanned `head` around the Host
        value, for the route's path and prefix; `trusted`: `(remote, proto, host, port, path,
        prefix)` a trusted client supplied (real IP and X-Forwarded-*), each None when absent."""

@final
class RequestFields:
    """The header fields of a request head: iterating gives `(name, value)` pairs
    in order of arrival (names as received, values trimmed); lookups ignore case."""

    def value(self, name: bytes) -> bytes | None:
        """The first value of the field `name`."""
    def values(self, name: bytes) -> bytes | None:
        """Every value of the field `name`, joined with ", "."""
    def __iter__(self) -> Iterator[tuple[bytes, bytes]]: ...
    def __len__(self) -> int: ...

def format_access_line(
    remote_addr: str,
    authorization: bytes | None,
    referer: bytes | None,
    user_agent: bytes | None,
    time_local: bytes,
    method: bytes,
    url: bytes,
    version: bytes,
    status: int,
    body_bytes_sent: int,
    request_id: bytes,
) -> bytes:
    """One access log line in Kong's `kong_log_format`, newline included: nginx's escaping, `-`
    for an empty value, `$remote_user` from Basic `authorization`, `-` as the request line
    when `method` is empty (a request refused before one was read)."""

def new_request_id() -> bytes:
    """A new request id (Kong's `$kong_request_id`): 32 hex digits, as ASCII bytes."""

def seed_request_ids(prefix: int) -> None:
    """Starts this process's request id sequence under `prefix`, the ids' high 64 bits (drawn
    at random by the caller, again in each forked worker)."""
