"""Listening sockets, created by the supervisor and inherited by the workers.

With the `reuseport` flag each worker gets a socket of its own on the same address, and the
kernel spreads new connections over them; the supervisor keeps every socket open, so a worker
that dies and is restarted picks up the connections queued on its socket instead of losing them.
Without it, all workers share one socket.
"""

from __future__ import annotations

import socket
from typing import Protocol


class ListenerSpec(Protocol):
    # Read-only, so frozen dataclasses and properties satisfy it.
    @property
    def bind_host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def reuseport(self) -> bool: ...
    @property
    def backlog(self) -> int | None: ...


def bind(listener: ListenerSpec, reuseport: bool) -> socket.socket:
    """A non-blocking listening TCP socket for one listener entry."""
    host = listener.bind_host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, listener.port))
        sock.listen(listener.backlog or 511)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise OSError(err.errno, f"cannot listen on {host}:{listener.port}: {err.strerror}") from None
    return sock
