"""The proxy access log, Kong's ``kong_log_format``:

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent" kong_request_id: "$kong_request_id"

(one line). The log phase appends a record (a tuple, no formatting); records are formatted and
written together on a timer or when many are waiting, so a request never costs a write call.
Values are escaped as nginx does by default: ``"``, ``\\`` and bytes outside 0x20-0x7e as
``\\xHH``.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import os
import re
import time

log = logging.getLogger("gantry.proxy")

FLUSH_INTERVAL = 1.0
FLUSH_RECORDS = 512

_UNSAFE = re.compile(rb'["\\\x00-\x1f\x7f-\xff]')


def _escape(value: bytes | None) -> bytes:
    if not value:
        return b"-"
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(lambda m: b"\\x%02X" % m.group()[0], value)


def remote_user(authorization: bytes | None) -> bytes:
    """The user of HTTP Basic credentials, as nginx's $remote_user."""
    if not authorization or authorization[:6].lower() != b"basic ":
        return b"-"
    try:
        decoded = binascii.a2b_base64(authorization[6:].strip())
    except binascii.Error:
        return b"-"
    return _escape(decoded.partition(b":")[0])


class AccessLog:
    """Buffered writer of one access log file. ``record`` takes a tuple:
    (remote_addr, authorization, wall_time, request_line, status, body_bytes_sent, referer,
    user_agent, request_id as bytes)."""

    __slots__ = ("path", "fd", "records", "timer", "_stamp_second", "_stamp")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.records: list[tuple] = []
        self.timer: asyncio.TimerHandle | None = None
        self._stamp_second = -1
        self._stamp = b""

    def record(self, entry: tuple) -> None:
        self.records.append(entry)
        if len(self.records) >= FLUSH_RECORDS:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.records:
            return
        records, self.records = self.records, []
        data = b"".join(self._format(entry) for entry in records)
        try:
            os.write(self.fd, data)
        except OSError as err:  # ours: disk full, file removed...; keep serving
            log.error("cannot write the access log %s: %s", self.path, err)

    def close(self) -> None:
        self.flush()
        os.close(self.fd)

    def _time_local(self, wall: float) -> bytes:
        second = int(wall)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second)).encode()
        return self._stamp

    def _format(self, entry: tuple) -> bytes:
        addr, authorization, wall, request_line, status, sent, referer, agent, request_id = entry
        return b'%s - %s [%s] "%s" %d %d "%s" "%s" kong_request_id: "%s"\n' % (
            addr.encode(), remote_user(authorization), self._time_local(wall), _escape(request_line),
            status, sent, _escape(referer), _escape(agent), request_id,
        )
