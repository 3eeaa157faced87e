"""file-log: each request's record (``kong.log.serialize()``) appended to a file as one line of
JSON (Kong's kong/plugins/file-log). The file is opened once per path (created 0644 when
missing, appended to) and kept; with ``reopen`` it is closed and opened again for each write,
for log rotation. Writes happen on a thread of the worker's own (one per path, in order), fed by
Kong's queue, so a slow disk never holds the event loop: the log phase queues the line and
returns. A file that cannot be opened or written is logged, its lines dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

from . import _queue
from ._log_plugins import custom_fields_by_lua, entry

priority = 9
version = "3.10.0"

log = logging.getLogger("gantry.plugins")

Schema = record(
    (
        "path",
        Field(
            "string",
            required=True,
            # Kong's [[^[^%s*&%%\`][^*&%%\`]*[^%s*&%%\`]$]]
            match=r"^[^\s*&%\\`][^*&%\\`]*[^\s*&%\\`]$",
            err="not a valid filename",
        ),
    ),
    ("reopen", Field("boolean", required=True, default=False)),
    ("custom_fields_by_lua", custom_fields_by_lua),
    required=True,
)

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
_MODE = 0o644
# what a write waits for at most: lines beyond are dropped (logged), as a full queue drops
_QUEUE = _queue.Params(max_batch_size=1000, max_coalescing_delay=0, max_retry_time=-1)


class LogFile:
    """One path's descriptor and the thread writing to it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.lock = threading.Lock()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="file-log")

    def write(self, data: bytes, reopen: bool) -> None:
        """On the file's thread: append ``data`` (whole lines), opening the file as needed."""
        with self.lock:
            if reopen and self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            if self.fd < 0:
                try:
                    self.fd = os.open(self.path, _FLAGS, _MODE)
                except OSError as err:
                    raise RuntimeError(f"failed to open the file: {err.strerror or err}") from None
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


_files: dict[str, LogFile] = {}


def log_file(path: str) -> LogFile:
    found = _files.get(path)
    if found is None:
        found = _files[path] = LogFile(path)
    return found


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.path = config["path"]
        self.reopen = bool(config["reopen"])
        self.file = log_file(self.path)
        self.name = f"file-log:{self.path}"
        self.tag = _queue.log_tag("file-log", config)

    async def write(self, batch: list[bytes]) -> None:
        data = b"".join(line + b"\n" for line in batch)
        await asyncio.get_running_loop().run_in_executor(self.file.thread, self.file.write, data, self.reopen)

    def log(self, kong: Any) -> None:
        failed = _queue.QUEUES.enqueue(self.name, self.tag, _QUEUE, self.write, entry(kong))
        if failed is not None:
            kong.log.err("failed to queue a log line: ", failed)
