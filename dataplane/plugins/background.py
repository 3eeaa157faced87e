"""Work plugins leave running after their requests (the logging plugins' queues sending what
the log phase queued), per event loop: a draining worker says so (``drain``), so that the work
finishes without waiting on anything it could skip (a queue sends its batch at once and makes
no retry), and waits for it within its drain timeout (``pending``)."""

from __future__ import annotations

import asyncio
from typing import Any


class _Work:
    __slots__ = ("tasks", "draining")

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.draining = False


_work: dict[asyncio.AbstractEventLoop, _Work] = {}


def _of(loop: asyncio.AbstractEventLoop) -> _Work:
    work = _work.get(loop)
    if work is None:
        for closed in [other for other in _work if other.is_closed()]:
            del _work[closed]
        work = _work[loop] = _Work()
    return work


def track(task: asyncio.Task[Any]) -> None:
    """Hold ``task`` until it is done; a draining worker waits for it."""
    tasks = _of(task.get_loop()).tasks
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def draining() -> bool:
    """Whether the worker running this code drains (False outside an event loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    work = _work.get(loop)
    return work is not None and work.draining


def drain(loop: asyncio.AbstractEventLoop) -> None:
    _of(loop).draining = True


def pending(loop: asyncio.AbstractEventLoop) -> bool:
    work = _work.get(loop)
    return work is not None and bool(work.tasks)
