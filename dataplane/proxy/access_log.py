"""The proxy access log, Kong's ``kong_log_format``:

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent" kong_request_id: "$kong_request_id"

(one line, made natively by ``dataplane._core.format_access_line``: nginx's escaping, the user
of Basic credentials). The log phase appends a line; lines are written together on a timer or
when many are waiting, so a request never costs a write call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

log = logging.getLogger("gantry.proxy")

FLUSH_INTERVAL = 1.0
FLUSH_RECORDS = 512


class AccessLog:
    """Buffered writer of one access log file."""

    __slots__ = ("path", "fd", "lines", "timer", "_stamp_second", "_stamp")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lines: list[bytes] = []
        self.timer: asyncio.TimerHandle | None = None
        self._stamp_second = -1
        self._stamp = b""

    def record(self, line: bytes) -> None:
        self.lines.append(line)
        if len(self.lines) >= FLUSH_RECORDS:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.lines:
            return
        lines, self.lines = self.lines, []
        try:
            os.write(self.fd, b"".join(lines))
        except OSError as err:  # ours: disk full, file removed...; keep serving
            log.error("cannot write the access log %s: %s", self.path, err)

    def close(self) -> None:
        self.flush()
        os.close(self.fd)

    def time_local(self) -> bytes:
        """nginx's ``$time_local`` for now (formatted once a second)."""
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second)).encode()
        return self._stamp
