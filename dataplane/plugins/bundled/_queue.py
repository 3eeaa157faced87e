"""Kong's plugin queue (kong/tools/queue.lua, kong/tools/queue_schema.lua): the log phase hands
an entry to a queue and returns; a task of the worker's event loop sends the entries in batches,
retrying a failed batch with exponential back-off, so that no request ever waits for a collector.

- ``max_batch_size`` entries at most go to the handler at once; the first entry of a batch
  waits at most ``max_coalescing_delay`` seconds for the others (none when the batch size is 1).
- ``max_entries`` entries (and ``max_bytes`` bytes, when set) wait at most: when the queue is
  full the oldest entry is dropped, with an error logged once until the queue drains again; an
  entry larger than ``max_bytes`` is refused. A warning is logged at 80% of ``max_entries``.
- A batch the handler fails (it raises) is retried after ``initial_retry_delay`` seconds, then
  twice that each time up to ``max_retry_delay``, until ``max_retry_time`` seconds have passed
  since its first try; then it is dropped, its entries counted in the error logged. A
  ``max_retry_time`` below 0 makes no retry.
- ``concurrency_limit`` 1: one task per queue, sending one batch at a time; -1: each entry is
  sent by a task of its own (Kong's timers), no batching. Gantry bounds those tasks by
  ``max_entries`` too (Kong does not bound its timers): a dead collector costs at most that many.

Queues are per worker (per event loop) and named: entries queued under one name share a queue
(the handler of the latest enqueue is used, as Kong's). A queue's task ends when it is empty and
the queue goes with it; the next entry makes a new one with the parameters it comes with. A
worker that stops (``ProxyState.drain``) sends what its queues hold at once, with no coalescing
delay and no retry, within its drain timeout; what could not be sent is logged with the number
of entries lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dataplane.plugins import background
from dataplane.schema import Field
from dataplane.schema.fields import record

log = logging.getLogger("gantry.plugins")

CAPACITY_WARNING_THRESHOLD = 0.8
COALESCE_MIN_TIME = 0.05  # a batch with less coalescing time left than this goes now
POLL_TIME = 1.0  # a coalescing batch or a retry's delay looks this often whether the worker drains

# Kong's typedefs.queue (kong/tools/queue_schema.lua)
Schema = record(
    ("max_batch_size", Field("integer", default=1, between=(1, 1_000_000))),
    ("max_coalescing_delay", Field("number", default=1, between=(0, 3600))),
    ("max_entries", Field("integer", default=10_000, between=(1, 1_000_000))),
    ("max_bytes", Field("integer")),
    ("max_retry_time", Field("number", default=60)),
    ("initial_retry_delay", Field("number", default=0.01, between=(0.001, 1_000_000))),
    ("max_retry_delay", Field("number", default=60, between=(0.001, 1_000_000))),
    ("concurrency_limit", Field("integer", default=1, one_of=(-1, 1))),
    required=True,
)

# A handler sends a batch; it raises (any Exception, its message logged) when it could not.
Handler = Callable[[list[bytes]], Awaitable[None]]


@dataclass(frozen=True)
class Params:
    max_batch_size: int = 1
    max_coalescing_delay: float = 1.0
    max_entries: int = 10_000
    max_bytes: int | None = None
    max_retry_time: float = 60.0
    initial_retry_delay: float = 0.01
    max_retry_delay: float = 60.0
    concurrency_limit: int = 1

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> Params:
        """From a config's ``queue`` record (Kong's defaults where a field is null)."""
        values = {name: value for name, value in (config or {}).items() if value is not None}
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})


class Clock:
    """The queue's clock and sleep: the event loop's, or a test's."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, less when the worker starts draining meanwhile."""
        end = self.now() + seconds
        while not background.draining():
            left = end - self.now()
            if left <= 0:
                return
            await asyncio.sleep(min(left, POLL_TIME))


class Queue:
    __slots__ = (
        "name",
        "log_tag",
        "params",
        "handler",
        "clock",
        "entries",
        "bytes_queued",
        "arrived",
        "task",
        "warned",
        "dropping",
        "in_flight",
        "registry",
    )

    def __init__(
        self, name: str, log_tag: str, params: Params, handler: Handler, clock: Clock, registry: dict[str, Queue]
    ) -> None:
        self.name = name
        self.log_tag = log_tag
        self.params = params
        self.handler = handler
        self.clock = clock
        self.entries: deque[bytes] = deque()
        self.bytes_queued = 0
        self.arrived = asyncio.Event()  # set when a batch is full while the task coalesces
        self.task: asyncio.Task[None] | None = None
        self.warned = False
        self.dropping = False  # entries were dropped: said once until the queue resumes
        self.in_flight: set[asyncio.Task[None]] = set()  # concurrency_limit -1's tasks
        self.registry = registry

    # -- logging -------------------------------------------------------------------------------

    def _log(self, level: int, message: str, *args: Any) -> None:
        log.log(level, "[%s] queue %s: " + message, self.log_tag, self.name, *args)

    # -- enqueue -------------------------------------------------------------------------------

    def count(self) -> int:
        return len(self.entries)

    def enqueue(self, entry: bytes) -> str | None:
        """Queue an entry; None, or why it was refused. Never waits."""
        params = self.params
        if params.concurrency_limit == -1:
            return self._send_alone(entry)
        if self.count() >= params.max_entries * CAPACITY_WARNING_THRESHOLD:
            if not self.warned:
                self._log(logging.WARNING, "queue at %s%% capacity", int(CAPACITY_WARNING_THRESHOLD * 100))
                self.warned = True
        else:
            self.warned = False
        if self.count() >= params.max_entries:
            if not self.dropping:
                self._log(logging.ERROR, "queue full, dropping old entries until processing is successful again")
            self._drop_oldest()
            self.dropping = True
        max_bytes = params.max_bytes
        if max_bytes is not None:
            if len(entry) > max_bytes:
                message = (
                    f"string to be queued is longer ({len(entry)} bytes) than the queue's max_bytes ({max_bytes} bytes)"
                )
                self._log(logging.ERROR, "%s", message)
                return message
            dropped = 0
            while self.entries and self.bytes_queued + len(entry) > max_bytes:
                self._drop_oldest()
                dropped += 1
            if dropped:
                self.dropping = True
                self._log(logging.ERROR, "byte capacity exceeded, %d queue entries were dropped", dropped)
            self.bytes_queued += len(entry)
        self.entries.append(entry)
        if len(self.entries) >= params.max_batch_size:
            self.arrived.set()  # a batch is full: a coalescing task goes now (else it waits its delay out)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=f"queue {self.name}")
            background.track(self.task)
        return None

    def _drop_oldest(self) -> None:
        dropped = self.entries.popleft()
        if self.params.max_bytes is not None:
            self.bytes_queued -= len(dropped)

    def _send_alone(self, entry: bytes) -> str | None:
        if len(self.in_flight) >= self.params.max_entries:
            if not self.dropping:
                self._log(logging.ERROR, "%d entries being sent already, dropping new ones", len(self.in_flight))
                self.dropping = True
            return "too many entries being sent"
        self.dropping = False
        task = asyncio.get_running_loop().create_task(self._handle([entry]))
        background.track(task)
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        return None

    # -- the sending task ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while self.entries:
                await self._process_once()
        except asyncio.CancelledError:
            if self.entries:
                self._log(logging.ERROR, "worker stopping: %d queue entries were lost", len(self.entries))
            raise
        finally:
            self.task = None
            if self.registry.get(self.name) is self:
                del self.registry[self.name]

    async def _process_once(self) -> None:
        params, clock = self.params, self.clock
        started = clock.now()
        # the first entry is here; gather more until the batch is full or the delay is over
        while len(self.entries) < params.max_batch_size:
            left = params.max_coalescing_delay - (clock.now() - started)
            if left < COALESCE_MIN_TIME or background.draining():
                break
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, POLL_TIME))
        batch = [self.entries.popleft() for _ in range(min(params.max_batch_size, len(self.entries)))]
        if params.max_bytes is not None:
            self.bytes_queued -= sum(len(entry) for entry in batch)
        if self.dropping:
            self._log(logging.INFO, "queue resumed processing")
            self.dropping = False
        await self._handle(batch)

    async def _handle(self, batch: list[bytes]) -> None:
        params, clock = self.params, self.clock
        started = clock.now()
        retries = 0
        while True:
            try:
                await self.handler(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:
                reason = str(err) or type(err).__name__
                if params.max_retry_time < 0:  # no retry: said once, as an error
                    lost = len(batch)
                    self._log(logging.ERROR, "could not process entries: %s. %d queue entries were lost", reason, lost)
                    return
                self._log(logging.WARNING, "handler could not process entries: %s", reason)
            if background.draining():
                self._log(logging.ERROR, "worker stopping: %d queue entries were lost", len(batch))
                return
            if clock.now() - started > params.max_retry_time:
                self._log(
                    logging.ERROR,
                    "could not send entries due to max_retry_time exceeded. %d queue entries were lost",
                    len(batch),
                )
                return
            await clock.sleep(min(params.max_retry_delay, 2**retries * params.initial_retry_delay))
            retries += 1


class Queues:
    """A worker's queues by name, one set per event loop."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.by_loop: dict[asyncio.AbstractEventLoop, dict[str, Queue]] = {}

    def enqueue(self, name: str, log_tag: str, params: Params, handler: Handler, entry: bytes) -> str | None:
        """Queue ``entry`` under ``name``; None, or why it was not queued (logged already)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return "no event loop runs here to send entries from"
        registry = self.by_loop.get(loop)
        if registry is None:
            for other in [other for other in self.by_loop if other.is_closed()]:
                del self.by_loop[other]
            registry = self.by_loop[loop] = {}
        queue = registry.get(name)
        if queue is None:
            queue = registry[name] = Queue(name, log_tag, params, handler, self.clock, registry)
        else:
            queue.handler = handler  # the latest config's, as Kong's handler_conf
        return queue.enqueue(entry)

    def get(self, name: str) -> Queue | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return self.by_loop.get(loop, {}).get(name)


QUEUES = Queues()


def log_tag(plugin_name: str, config: dict[str, Any]) -> str:
    """Kong's tag for a plugin instance's queue lines: ``http-log plugin <id> (<instance name>)``."""
    tag = f"{plugin_name} plugin {config.get('__plugin_id') or ''}"
    instance = config.get("plugin_instance_name")
    return f"{tag} ({instance})" if instance else tag
