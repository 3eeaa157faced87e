"""The Admin API's logs, as Kong's: `admin_access_log` (default `logs/admin_access.log`
under the prefix, nginx's `combined` format Kong's admin server uses, `off` for none) and
`admin_error_log` (default `logs/error.log`, the node's error log; another path takes the
Admin API's own error lines). Every node serving the Admin API has both: a control plane, a
traditional node, a DB-less node.

An access line reads
`127.0.0.1 - - [04/Dec/2026:18:44:09 +0000] "POST /services HTTP/1.1" 201 312 "-" "curl/8.5.0"`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dataplane.conf import Conf
from dataplane.logs import KongFormatter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

ADMIN_LOGGER = "controlplane.api"


def _quoted(value: str) -> str:
    # nginx escapes '"', '\' and bytes outside printable ASCII as \xHH
    out = []
    for char in value:
        code = ord(char)
        out.append(f"\\x{code:02X}" if char in '"\\' or code < 0x20 or code > 0x7E else char)
    return "".join(out)


class AccessLog:
    """ASGI middleware writing one combined-format line per Admin API request."""

    def __init__(self, app: App, path: str) -> None:
        self.app = app
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        # O_APPEND: whole lines, also with several processes writing the same file
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # app.state and the like stay reachable

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = {"status": 0, "bytes": 0, "logged": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    # written before the last of the body goes out: a client that has its
                    # answer finds its line in the log
                    answer["logged"] = True
                    self.write(scope, answer["status"] or 500, answer["bytes"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not answer["logged"]:  # the app failed before its answer was whole
                self.write(scope, answer["status"] or 500, answer["bytes"])

    def write(self, scope: Scope, status: int, sent: int) -> None:
        client = scope.get("client")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        target = scope.get("raw_path") or scope.get("path", "/").encode()
        if isinstance(target, bytes):
            target = target.decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        request = f"{scope.get('method', '-')} {target} HTTP/{scope.get('http_version', '1.1')}"
        line = (
            f"{client[0] if client else '-'} - - [{time.strftime('%d/%b/%Y:%H:%M:%S %z')}] "
            f'"{_quoted(request)}" {status} {sent} '
            f'"{_quoted(headers.get("referer", "-"))}" "{_quoted(headers.get("user-agent", "-"))}"\n'
        )
        with contextlib.suppress(OSError):  # a full disk must not fail the request
            os.write(self.fd, line.encode("latin-1", "replace"))


def wrap(app: App, conf: Conf) -> App:
    """The Admin API app with its access log (when admin_access_log is not off)."""
    path = conf.admin_access_log
    return AccessLog(app, path) if path is not None else app


def setup_error_log(conf: Conf) -> None:
    """With admin_error_log elsewhere than proxy_error_log, the Admin API's own lines go
    there instead (as Kong's admin server block has its own error_log)."""
    path = conf.admin_error_log
    admin = logging.getLogger(ADMIN_LOGGER)
    for handler in list(admin.handlers):
        if getattr(handler, "gantry_admin_error_log", False):
            admin.removeHandler(handler)
            handler.close()
    if path is None or path == conf.proxy_error_log:
        admin.propagate = True
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(KongFormatter())
    handler.gantry_admin_error_log = True  # type: ignore[attr-defined]
    admin.addHandler(handler)
    admin.propagate = False
