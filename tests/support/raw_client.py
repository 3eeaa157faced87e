"""A blocking raw-bytes HTTP client for gateways on loopback: what is sent is exactly the bytes
given, what comes back is parsed strictly (tests.support.http_messages)."""

from __future__ import annotations

import contextlib
import socket

from tests.support.http_messages import Response, ResponseReader


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout), return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


class RawConnection(ResponseReader):
    """One client connection speaking raw bytes."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        super().__init__()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.eof = False

    def send(self, data: bytes) -> None:
        """Send; a peer that already closed (an early error answer) is not an error here."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.sock.sendall(data)

    def _feed(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if data:
            self.feed(data)
        else:
            self.eof = True
            self.end()

    def read(self, count: int = 1, timeout: float | None = None) -> list[Response]:
        self.sock.settimeout(timeout or self.timeout)
        while len(self.responses) < count and not self.eof:
            self._feed()
        if len(self.responses) < count:
            raise AssertionError(f"connection closed after {len(self.responses)} of {count} responses")
        return self.take(count)

    def read_one(self, timeout: float | None = None) -> Response:
        return self.read(1, timeout)[0]

    def closed(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection (EOF or reset) within the timeout."""
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> Response:
    with RawConnection(port, timeout) as conn:
        conn.send(data)
        return conn.read_one()
