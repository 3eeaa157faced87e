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
from collections.abc import Awaitable, Callable
from typing import Any


class _Tries:
    """The tries of one wait, blocking or async: their outcomes, the deadline, the pauses."""

    def __init__(
        self, timeout: float, interval: float, message: str, ignoring: tuple[type[BaseException], ...]
    ) -> None:
        self.deadline = time.monotonic() + timeout
        self.interval = interval
        self.message = message
        self.ignoring = ignoring
        self.error: BaseException | None = None

    def outcome(self, predicate: Callable[[], Any]) -> Any:
        """What one try gave; None for an error of the ignored kinds."""
        try:
            return predicate()
        except self.ignoring as error:
            self.error = error
            return None

    async def awaited(self, value: Awaitable[Any]) -> Any:
        """The same for a predicate that returned an awaitable."""
        try:
            return await value
        except self.ignoring as error:
            self.error = error
            return None

    def pause(self) -> float:
        """The time to wait before the next try; TimeoutError once the deadline has passed."""
        if time.monotonic() > self.deadline:
            detail = f" (last error: {self.error!r})" if self.error is not None else ""
            raise TimeoutError(f"timed out waiting for {self.message}{detail}")
        return self.interval


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    tries = _Tries(timeout, interval, message, ignoring)
    while not (value := tries.outcome(predicate)):
        time.sleep(tries.pause())
    return value


async def wait_for_async(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """The same on a running event loop: the loop keeps running between tries."""
    tries = _Tries(timeout, interval, message, ignoring)
    while True:
        value = tries.outcome(predicate)
        if inspect.isawaitable(value):
            value = await tries.awaited(value)
        if value:
            return value
        await asyncio.sleep(tries.pause())
