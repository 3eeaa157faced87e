"""Waiting on a condition instead of sleeping for a time it is hoped to take.

    wait_for(lambda: gw.status()[0] == 200, message="the status API")
    await wait_for_async(lambda: dp.config_version == 3)   # the predicate may be a coroutine function

Both return the predicate's first truthy value and raise TimeoutError (naming `message`, and
the last ignored error if there was one) once `timeout` seconds have passed without one.
Exceptions of the `ignoring` types count as "not yet" (a server not listening yet); any other
exception ends the wait at once (a process that died will not come up).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


class _Attempts:
    """The deadline and the last ignored error, shared by the blocking and the async poller."""

    def __init__(self, timeout: float, message: str, ignoring: tuple[type[BaseException], ...]) -> None:
        self.deadline = time.monotonic() + timeout
        self.message = message
        self.ignoring = ignoring
        self.error: BaseException | None = None

    def failed(self, error: BaseException) -> None:
        if not isinstance(error, self.ignoring):
            raise error
        self.error = error

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            detail = f" (last error: {self.error!r})" if self.error is not None else ""
            raise TimeoutError(f"timed out waiting for {self.message}{detail}")


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    attempts = _Attempts(timeout, message, ignoring)
    while True:
        try:
            if value := predicate():
                return value
        except Exception as error:
            attempts.failed(error)
        attempts.check_deadline()
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """The same on a running event loop: the loop keeps running between tries."""
    attempts = _Attempts(timeout, message, ignoring)
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
        except Exception as error:
            attempts.failed(error)
        attempts.check_deadline()
        await asyncio.sleep(interval)
