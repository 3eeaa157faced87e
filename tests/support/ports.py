"""Loopback ports for test servers."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port free a moment ago (bound then released): for a process that binds it itself."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


def listening_socket() -> socket.socket:
    """A non-blocking socket listening on a loopback port of its own, for a server on an event
    loop of this process (no window in which another process could take the port)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock
