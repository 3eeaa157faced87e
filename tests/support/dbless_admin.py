"""The DB-less Admin API of a `dataplane run` gateway (tests.support.processes.Gateway, which
keeps `admin_listen = off` unless told): the conf that turns it on at a port of the test's
own, and a client sending any body with any Content-Type."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.support.ports import free_port
from tests.support.processes import AdminClient


def admin_conf(port: int) -> dict[str, str]:
    """Gateway conf values serving the Admin API on loopback `port`."""
    return {"admin_listen": f"127.0.0.1:{port}"}


class DblessAdmin(AdminClient):
    """JSON requests (AdminClient.admin) and raw ones to a gateway's Admin API."""

    def __init__(self, port: int | None = None) -> None:
        self.admin_port = port or free_port()

    @property
    def conf(self) -> dict[str, str]:
        return admin_conf(self.admin_port)

    def raw(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None, timeout: float = 60.0
    ) -> tuple[int, Any]:
        """The status and the body (JSON decoded when it is JSON, else bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": content_type} if content_type else {})
            response = conn.getresponse()
            raw = response.read()
            if "json" in (response.getheader("content-type") or ""):
                return response.status, json.loads(raw)
            return response.status, raw
        finally:
            conn.close()
