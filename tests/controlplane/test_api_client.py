"""`AdminApi`: the Admin API served by uvicorn (h11, uvloop) on a real loopback socket,
in a thread with its own event loop, plus a requests session to talk to it. Other
test_api_* modules import it. The tests here cover the serving layer itself: unknown paths,
trailing slashes, HEAD/OPTIONS, and a failing store answering 500 without details."""
from __future__ import annotations

import socket
import threading
import uuid
from typing import Any

import pytest
import requests
import uvloop

from controlplane.api import ApiContext
from controlplane.server import server_for
from controlplane.database import Database
from dataplane.conf import Conf


class AdminApi:
    def __init__(self, conf: Conf, wrap_db: Any = None) -> None:
        self.conf = conf
        self.wrap_db = wrap_db  # optional: replaces the Database handed to the API
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.session = requests.Session()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: uvloop.run(self._main()), daemon=True)
        self.server = None
        self.db: Database | None = None

    async def _main(self) -> None:
        self.db = await Database.connect(self.conf)
        try:
            db = self.wrap_db(self.db) if self.wrap_db else self.db
            self.api = ApiContext(self.conf, db, str(uuid.uuid4()))
            self.server = server_for(self.api)
            self._ready.set()
            await self.server.serve(sockets=[self.sock])
        finally:
            await self.db.close()

    def __enter__(self) -> AdminApi:
        self._thread.start()
        assert self._ready.wait(10), "Admin API did not start"
        while not self.server.started:
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        self.server.should_exit = True
        self._thread.join(10)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=30, **kw)

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


class _BrokenEntities:
    """A store whose every call fails the way a bug would: the API must not leak it."""

    def __getattr__(self, name: str) -> Any:
        async def fail(*args: Any, **kw: Any) -> Any:
            raise RuntimeError("secret internal detail /etc/passwd")
        return fail


class _BrokenDb:
    def __init__(self, db: Database) -> None:
        self.entities = _BrokenEntities()
        self.reachable = db.reachable


@pytest.fixture(scope="module")
def api(db_conf):
    with AdminApi(db_conf) as admin:
        yield admin


def test_unknown_paths_are_kong_404(api):
    for path in ("/nothing", "/services/x/nothing", "/targets", "/snis/x/certificate"):
        r = api.get(path)
        assert (r.status_code, r.json()) == (404, {"message": "Not found"}), path
        assert r.headers["content-type"] == "application/json; charset=utf-8"


def test_wrong_method_is_kong_405(api):
    r = api.put("/services")
    assert (r.status_code, r.json()) == (405, {"message": "Method not allowed"})
    r = api.delete("/status")
    assert (r.status_code, r.json()) == (405, {"message": "Method not allowed"})


def test_trailing_slash_is_the_same_path(api):
    assert api.get("/services/").json() == {"data": [], "next": None}


def test_head_and_options(api):
    r = api.request("HEAD", "/services")
    assert r.status_code == 200 and r.content == b""
    r = api.request("OPTIONS", "/services/x")
    assert r.status_code == 204
    assert r.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"


def test_unexpected_failure_is_500_without_details(db_conf, caplog):
    with AdminApi(db_conf, wrap_db=_BrokenDb) as broken:
        r = broken.get("/services")
        assert (r.status_code, r.json()) == (500, {"message": "An unexpected error occurred"})
        assert "secret" not in r.text and "Traceback" not in r.text
        # the server keeps serving
        assert broken.get("/status").status_code == 200
    assert any("secret internal detail" in str(rec.exc_info) for rec in caplog.records)


def test_the_running_admin_api_speaks_h11(api):
    # uvicorn's httptools protocol turns on an httptools leniency flag: the Admin API must serve
    # every connection with the h11 one, whatever uvicorn would pick by default.
    from uvicorn.protocols.http.h11_impl import H11Protocol

    assert api.server.config.http_protocol_class is H11Protocol
    with socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1])), timeout=5) as client:
        client.sendall(b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200 ")
        connections = list(api.server.server_state.connections)  # ours is still open (keep-alive)
        assert connections and all(isinstance(c, H11Protocol) for c in connections)
