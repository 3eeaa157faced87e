"""`AdminApi`: the Admin API served by uvicorn (h11, uvloop) on a loopback socket, in a thread
with its own event loop, and a requests session to talk to it.

    with AdminApi(conf) as api:
        api.post("/services", json={"name": "s", "host": "a.test"})
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import requests
import uvloop

from controlplane.api import ApiContext
from controlplane.cluster import ClusterServer
from controlplane.database import Database
from controlplane.server import server_for
from dataplane.conf import Conf
from tests.support.ports import listening_socket
from tests.support.waiting import wait_for

T = TypeVar("T")


class AdminApi:
    def __init__(self, conf: Conf, wrap_db: Callable[[Database], Any] | None = None) -> None:
        self.conf = conf
        self.wrap_db = wrap_db  # optional: replaces the Database handed to the API
        self.sock = listening_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.session = requests.Session()
        self._ready: Future = Future()
        self._thread = threading.Thread(target=lambda: uvloop.run(self._main()), daemon=True)
        self.server = None
        self.db: Database | None = None

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.db = await Database.connect(self.conf)
        try:
            db = self.wrap_db(self.db) if self.wrap_db else self.db
            self.api = ApiContext(self.conf, db, str(uuid.uuid4()))
            self.server = server_for(self.api, await self._start_cluster())
            self._ready.set_result(None)
            await self.server.serve(sockets=[self.sock])
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise
        finally:
            await self._stop_cluster()
            await self.db.close()

    async def _start_cluster(self) -> ClusterServer | None:
        """What answers /clustering/*: nothing for the Admin API alone (a 400)."""
        return None

    async def _stop_cluster(self) -> None:
        pass

    def __enter__(self) -> AdminApi:
        self._thread.start()
        self._ready.result(20)
        wait_for(lambda: self.server.started, timeout=10, interval=0.01, message="the Admin API listening")
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        self.server.should_exit = True
        self._thread.join(20)

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the server's loop (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=30, **kw)

    async def arequest(self, method: str, path: str, **kw: Any) -> requests.Response:
        """The same, without blocking the caller's event loop."""
        return await asyncio.to_thread(self.request, method, path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)
