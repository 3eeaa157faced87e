"""A request body read whole before anything goes upstream (a route's ``request_buffering``,
on by default as in Kong).

As nginx does with ``proxy_request_buffering on``: the first ``client_body_buffer_size`` bytes
are kept in memory, a larger body goes to a file in ``<prefix>/client_body_temp``. The file is
unlinked as soon as it is created, so it disappears when its descriptor closes, whatever
ends the request (a response, a client gone, a worker killed): nothing is left behind to
clean up. Writes and reads are plain synchronous file I/O on the event loop, as nginx's
are: they land in the page cache.

Framing stays the parser's job: by the time a body is complete here, llhttp has checked every
chunk of it, so a malformed body is refused before the upstream was sent a byte.
"""

from __future__ import annotations

import os
import tempfile

# One read from the file per write upstream; the transport's own buffer does the rest.
READ_SIZE = 65536


class BufferedBody:
    __slots__ = ("chunks", "size", "memory_limit", "directory", "fd")

    def __init__(self, memory_limit: int, directory: str, held: list[bytes] | None) -> None:
        """``held``: what was read before buffering began (chunks held for a busy connection)."""
        self.chunks: list[bytes] = []
        self.size = 0
        self.memory_limit = memory_limit
        self.directory = directory
        self.fd = -1  # the spill file, once the body outgrew memory
        for chunk in held or ():
            self.add(chunk)

    def add(self, chunk: bytes) -> None:
        """Keep ``chunk``; raises OSError when the spill file cannot be written (disk full)."""
        if self.fd < 0:
            if self.size + len(chunk) <= self.memory_limit:
                self.chunks.append(chunk)
                self.size += len(chunk)
                return
            self._spill()
        view = memoryview(chunk)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(chunk)

    def _spill(self) -> None:
        fd, path = tempfile.mkstemp(dir=self.directory)
        os.unlink(path)
        self.fd = fd
        held, self.chunks = self.chunks, []
        for chunk in held:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]

    def in_memory(self) -> list[bytes] | None:
        """The whole body as chunks, when it never went to a file."""
        return self.chunks if self.fd < 0 else None

    def read(self, offset: int) -> bytes:
        """Up to ``READ_SIZE`` bytes of the spilled body from ``offset`` (empty at its end)."""
        return os.pread(self.fd, min(READ_SIZE, self.size - offset), offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.chunks = []


def prepare_temp_dir(path: str) -> None:
    """Create the spill directory (owner only) and remove what a crash may have left between
    creating a file and unlinking it."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass  # a directory or a file another process removed: not ours to fight over
