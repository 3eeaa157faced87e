"""The Admin API as served (uvicorn, h11, uvloop, on a real loopback socket): unknown paths,
trailing slashes, HEAD/OPTIONS, the protocol class, and a failing store answering 500 without
details."""
from __future__ import annotations

import socket
from typing import Any

from controlplane.database import Database
from tests.support.admin_api import AdminApi


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
