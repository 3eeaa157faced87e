"""Hears of configuration changes: LISTEN on the change log's channel over a dedicated
connection (so a write through any control plane on the database is heard at once), and a
poll every `poll_interval` seconds in case a notification is lost or the listening
connection is down. Both only call `on_change()`; the reader finds out what changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from controlplane.database import StoreError
from controlplane.database.changelog import CHANNEL
from controlplane.database.notifications import listen
from dataplane.conf import Conf

log = logging.getLogger("controlplane.cluster")

RECONNECT_DELAY = 1.0


class ChangeWatcher:
    def __init__(self, conf: Conf, on_change: Callable[[], None], poll_interval: float = 1.0) -> None:
        self._conf = conf
        self._on_change = on_change
        self._poll_interval = poll_interval
        self._tasks: list[asyncio.Task] = []
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._listen()), asyncio.ensure_future(self._poll())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen(self) -> None:
        lost = asyncio.Event()
        reported = False
        while True:
            lost.clear()
            try:
                connection = await listen(self._conf, CHANNEL, lambda _: self._on_change(), lost.set)
            except (StoreError, OSError) as exc:
                if not reported:
                    log.warning(
                        "cannot LISTEN for configuration changes (%s); polling every %g s until the database is back",
                        exc,
                        self._poll_interval,
                    )
                    reported = True
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            if reported:
                log.info("listening for configuration changes again")
                reported = False
            self.listening.set()
            self._on_change()  # changes made while nobody was listening
            try:
                await lost.wait()
            finally:
                self.listening.clear()
                connection.terminate()
            self._on_change()  # the database may be gone: the reader finds out now, not at the next poll

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            self._on_change()
