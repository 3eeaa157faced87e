"""correlation-id: a request id in a header, kept from the client or made up, sent upstream and
optionally echoed to the client (Kong's kong/plugins/correlation-id).

Generators: ``uuid`` (a random UUID), ``uuid#counter`` (a UUID made once per worker, then
``#1``, ``#2``... per request the worker sees) and ``tracker`` (server address and port, worker
pid, connection serial number, requests on the connection so far, time in seconds with ms).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

priority = 100001
version = "3.10.0"

GENERATORS = ("uuid", "uuid#counter", "tracker")

Schema = record(
    ("header_name", Field("string", default="Kong-Request-ID")),
    ("generator", Field("string", required=True, default="uuid#counter", one_of=GENERATORS)),
    ("echo_downstream", Field("boolean", required=True, default=False)),
    required=True,
)


class WorkerCounter:
    """``uuid#counter``: Kong makes the UUID in init_worker; here it is made on a process's first
    use, so that workers forked from one parent still differ."""

    __slots__ = ("pid", "prefix", "count")

    def __init__(self) -> None:
        self.pid = 0
        self.prefix = ""
        self.count = 0

    def next(self) -> str:
        pid = os.getpid()
        if pid != self.pid:
            self.pid, self.prefix, self.count = pid, str(uuid.uuid4()), 0
        self.count += 1
        return f"{self.prefix}#{self.count}"


_COUNTER = WorkerCounter()  # one per worker, shared by every correlation-id config as in Kong


def tracker(kong: Any) -> str:
    var = kong.nginx.get_var
    return "%s-%s-%d-%s-%s-%0.3f" % (  # noqa: UP031 - Kong's format, spelt as Kong spells it
        var("server_addr"),
        var("server_port"),
        os.getpid(),
        var("connection"),
        var("connection_requests"),
        time.time(),
    )


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.header: str = config.get("header_name") or "Kong-Request-ID"
        self.generator: str = config.get("generator") or "uuid#counter"
        self.echo = bool(config.get("echo_downstream"))

    def generate(self, kong: Any) -> str:
        if self.generator == "uuid":
            return str(uuid.uuid4())
        if self.generator == "tracker":
            return tracker(kong)
        return _COUNTER.next()

    def access(self, kong: Any) -> None:
        correlation_id = kong.request.get_header(self.header)
        if not correlation_id:
            correlation_id = self.generate(kong)
            kong.service.request.set_header(self.header, correlation_id)
        kong.log.set_serialize_value("correlation_id", correlation_id)
        if self.echo:
            kong.ctx.plugin["correlation_id"] = correlation_id

    def header_filter(self, kong: Any) -> None:
        if not self.echo:
            return
        correlation_id = kong.ctx.plugin.get("correlation_id") or kong.request.get_header(self.header)
        kong.response.set_header(self.header, correlation_id or self.generate(kong))
