"""Kong's log serializer (``kong.log.serialize``, the http subsystem's, kong/pdk/log.lua): one
request's record, the object every logging plugin sends, and ``kong.log.set_serialize_value``'s
edits to it.

The timings are the exchange's (``Exchange.start``, ``t_balancer``) and what ``RequestPlugins``
records for the requests plugins see (``BalancerTries``, the time the response head came, the
time the log phase began), all on the event loop's clock; Kong's latencies in milliseconds:

- ``kong``: from the request's start to the last balancer pick (Kong's proxy latency), or to
  the response head when the request went nowhere (Kong's response latency);
- ``proxy``: from that pick to the upstream's response head (-1 when not proxied);
- ``receive``: from the response head to the end of the response (0 when not proxied);
- ``request``: from the start to the log phase.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .chain import RequestPlugins

# Kong's default workspace (constants.DECLARATIVE_DEFAULT_WORKSPACE_ID), the one a DB-less or
# hybrid data plane serves
DEFAULT_WORKSPACE_ID = "0dc6f45b-8f8d-40d2-a504-473544ee190b"
DEFAULT_WORKSPACE_NAME = "default"
REDACTED = "REDACTED"
_REDACTED_HEADERS = ("authorization", "proxy-authorization")
# kong.response.get_source's values as the record names them (constants.RESPONSE_SOURCE.NAMES)
_SOURCE_NAMES = {"error": "kong", "exit": "kong", "service": "upstream"}
MODES = ("set", "add", "replace")
_ENTITIES = ("route", "service", "consumer")  # the configuration's entities a record holds
_VALUE_ERROR = (
    "value must be nil, a number, string, boolean or a non-self-referencial table containing numbers, string and "
    "booleans"
)


class BalancerTries:
    """The balancer's tries of one request (Kong's ``balancer_data.tries``): when each pick
    began and ended, the address it chose, how a failed one failed, and the upstream statuses
    (nginx's ``$upstream_status``). Kept as loop times; Kong's records are made when the log
    serializer asks (``records``): most requests are never serialized."""

    __slots__ = ("picks", "started", "failure", "failures", "statuses")

    def __init__(self) -> None:
        self.picks: list[tuple[str, int, float, float]] = []  # address, port, pick began, ended
        self.started = 0.0  # loop time the current pick began
        self.failure = 0  # the status of the try that just failed, until the next pick
        self.failures: dict[int, int] = {}  # a failed try's index -> the status it failed with
        self.statuses: list[int] = []

    def picking(self, now: float) -> None:
        if self.failure and self.picks:  # a retry: Kong records why the previous try failed
            self.failures[len(self.picks) - 1] = self.failure
        self.failure = 0
        self.started = now

    def picked(self, address: str, port: int, now: float) -> None:
        self.picks.append((address, port, self.started or now, now))
        self.started = 0.0

    def failed(self, status: int) -> None:
        self.failure = status
        self.statuses.append(status)

    def records(self, offset: float) -> list[dict[str, Any]]:
        """Kong's tries; ``offset``: loop time to seconds since the epoch."""
        out: list[dict[str, Any]] = []
        for index, (address, port, started, now) in enumerate(self.picks):
            record: dict[str, Any] = {
                "ip": address,
                "port": port,
                "balancer_start": int((started + offset) * 1000),
                "balancer_start_ns": int((started + offset) * 1e9),
                "balancer_latency": int((now - started) * 1000),
                "balancer_latency_ns": int((now - started) * 1e9),
            }
            code = self.failures.get(index)
            if code is not None:
                record.update(state="failed", code=code)
            out.append(record)
        return out


def encoded(plugins: RequestPlugins) -> bytes:
    """The record as JSON, what the logging plugins send: made once per request and reused by
    every logging plugin of it, unless a ``set_serialize_value`` came in between."""
    edits = len(plugins.serialize_values)
    cached = plugins.log_entry
    if cached is not None and cached[0] == edits:
        return cached[1]
    # encoded at once and never handed out: the configuration's entities need no copy unless
    # an edit may change them
    private = any(key.startswith(_ENTITIES) for key, _, _ in plugins.serialize_values)
    data = orjson.dumps(serialize(plugins, private=private), default=str)
    plugins.log_entry = (edits, data)
    return data


def serialize(plugins: RequestPlugins, private: bool = True) -> dict[str, Any]:
    """The record; ``private``: the caller may change it, so the configuration's entities in it
    are copies."""
    exchange = plugins.exchange
    request = plugins.kong.request
    loop_now = exchange.conn.loop.time()
    ended = plugins.t_log or loop_now
    start = exchange.start
    head_at = plugins.t_head or ended
    proxied = exchange.proxied
    picked = exchange.t_balancer
    if proxied:
        latencies = {
            "kong": _ms((picked or head_at) - start),
            "proxy": _ms(head_at - (picked or head_at)),
            "request": _ms(ended - start),
            "receive": _ms(ended - head_at),
        }
    else:
        latencies = {"kong": _ms(head_at - start), "proxy": -1, "request": _ms(ended - start), "receive": 0}
    headers = request.get_headers()
    for name in _REDACTED_HEADERS:
        if name in headers:
            headers[name] = REDACTED
    uri = request.get_path_with_query()
    head = exchange.head
    request_record: dict[str, Any] = {
        "id": exchange.request_id.decode(),
        "uri": uri,
        "url": f"{request.get_scheme()}://{request.get_host()}:{request.get_port()}{uri}",
        "querystring": request.get_query(),
        "method": request.get_method(),
        "headers": headers,
        "size": getattr(head, "length", 0) + exchange.body_received,
    }
    tls = _tls(exchange)
    if tls is not None:
        request_record["tls"] = tls
    balancer = plugins.balancer_tries
    statuses = balancer.statuses if balancer is not None else []
    sent_head = plugins.sent_head
    root: dict[str, Any] = {
        "request": request_record,
        "upstream_uri": _upstream_uri(exchange.head_parts),
        "upstream_status": ", ".join(str(status) for status in statuses),
        "response": {
            "status": plugins.kong.response.get_status(),
            "headers": _response_headers(plugins),
            "size": (len(sent_head) if sent_head is not None else 0) + exchange.resp_bytes,
        },
        "latencies": latencies,
        # loop times to the epoch from the request's start: every try agrees with started_at
        "tries": balancer.records(plugins.start_epoch() - exchange.start) if balancer is not None else [],
        "authenticated_entity": _authenticated_entity(plugins.credential, plugins.consumer),
        "route": plugins.entity("routes", plugins.route_id),
        "service": plugins.entity("services", plugins.service_id),
        "consumer": plugins.consumer,
        "client_ip": exchange.remote_addr,
        "started_at": request.get_start_time(),
        "source": _SOURCE_NAMES.get(plugins.source or ("service" if proxied else "error"), "kong"),
        "workspace": DEFAULT_WORKSPACE_ID,
        "workspace_name": DEFAULT_WORKSPACE_NAME,
    }
    if private:
        for key in _ENTITIES:
            root[key] = _copy(root[key])
    if plugins.serialize_values:
        edit(root, plugins.serialize_values)
    return _present(root)


def _response_headers(plugins: RequestPlugins) -> dict[str, Any]:
    """kong.response.get_headers() as the log phase reads it: the fields of the head sent, read
    once here (the PDK's reading also applies pending changes, which the log phase has none of)."""
    head = plugins.sent_head
    if head is None or plugins.response_head is not None:
        return plugins.kong.response.get_headers()
    out: dict[str, Any] = {}
    for line in head.decode("latin-1").split("\r\n")[1:101]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip().lower()
        value = value.strip(" \t")
        previous = out.get(name)
        if previous is None:
            out[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[name] = [previous, value]
    return out


def _copy(entity: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of an entity of the configuration (Kong's cycle_aware_deep_copy): what a plugin
    or a set_serialize_value edit does to the record never reaches the configuration."""
    if entity is None:
        return None
    try:
        copied: dict[str, Any] = orjson.loads(orjson.dumps(entity))
    except TypeError:
        copied = copy.deepcopy(entity)
    return copied


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


_OPTIONAL = ("authenticated_entity", "route", "service", "consumer")


def _present(root: dict[str, Any]) -> dict[str, Any]:
    """Kong's table has no nil values: a JSON encoding leaves them out (the top-level keys that
    may be nil, and any a set_serialize_value left so)."""
    for key in _OPTIONAL:
        if root.get(key, False) is None:
            del root[key]
    return root


def _upstream_uri(head_parts: list[bytes]) -> str:
    """The path and query of the request line sent (or built to be sent) upstream."""
    if not head_parts:
        return ""
    line = head_parts[0].partition(b"\r\n")[0]
    target = line.partition(b" ")[2].rpartition(b" ")[0]
    return target.decode("latin-1")


def _tls(exchange: Any) -> dict[str, Any] | None:
    if exchange.conn.scheme != "https":
        return None
    transport = exchange.conn.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    certificate = ssl_object.getpeercert()
    return {
        "version": ssl_object.version(),
        "cipher": cipher[0] if cipher else None,
        "client_verify": "SUCCESS" if certificate else "NONE",
    }


def _authenticated_entity(credential: dict[str, Any] | None, consumer: dict[str, Any] | None) -> dict[str, Any] | None:
    if credential is None:
        return None
    consumer_id = credential.get("consumer_id")
    if consumer_id is None:
        owner = credential.get("consumer")
        consumer_id = owner.get("id") if isinstance(owner, dict) else None
    if consumer_id is None and consumer is not None:
        consumer_id = consumer.get("id")
    entity = {"id": credential.get("id"), "consumer_id": consumer_id}
    return {key: value for key, value in entity.items() if value is not None}


# -- kong.log.set_serialize_value ---------------------------------------------------------------


def check_value(value: Any, seen: set[int] | None = None) -> bool:
    """Kong's is_valid_value: nil, a number, string, boolean, or a table of those (keys strings,
    numbers or booleans) that does not contain itself."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if not isinstance(value, (dict, list, tuple)):
        return False
    seen = set() if seen is None else seen
    if id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, dict):
        return all(isinstance(k, (str, int, float, bool)) and check_value(v, seen) for k, v in value.items())
    return all(check_value(v, seen) for v in value)


def split_key(key: str) -> list[str]:
    """A serialize key's path: dots separate tables, a backslash before a dot keeps it."""
    if "." not in key:
        return [key]
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(key):
        char = key[i]
        if char == "\\" and i + 1 < len(key) and key[i + 1] == ".":
            current.append(".")
            i += 2
            continue
        if char == "." and i > 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def edit(root: dict[str, Any], values: list[tuple[str, Any, str]]) -> None:
    """Apply the recorded ``set_serialize_value`` calls in order, as Kong's edit_result: ``set``
    always, ``add`` only where nothing is, ``replace`` only where something is; a value of
    None removes the key."""
    for key, value, mode in values:
        if not check_value(value):
            raise ValueError(_VALUE_ERROR)
        path = split_key(key)
        node: Any = root
        for sub in path[:-1]:
            child = node.get(sub)
            if child is None:
                if mode == "replace":
                    node = None
                    break
                child = node[sub] = {}
            elif not isinstance(child, dict):
                raise ValueError(
                    f"The key '{key}' could not be used as a serialize value. Subkey '{sub}' is not a table. "
                    f"It's {_lua_text(child)}"
                )
            node = child
        if node is None:
            continue
        last = path[-1]
        exists = node.get(last) is not None
        if mode == "set" or (mode == "add" and not exists) or (mode == "replace" and exists):
            if value is None:
                node.pop(last, None)
            else:
                node[last] = value


def _lua_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
