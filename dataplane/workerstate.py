"""Per-worker counters shared between the supervisor and its workers.

The supervisor creates one anonymous shared memory file (memfd) and passes its descriptor to
every worker. Each worker owns one slot of int64 fields and is its only writer; the supervisor
only reads them (status API, readiness). Plain aligned 8-byte stores need no lock for that.
"""

from __future__ import annotations

import mmap
import os

# Field indices inside a slot.
PID = 0
CONFIG_VERSION = 1
ACTIVE_CONNECTIONS = 2
TOTAL_REQUESTS = 3
ACCEPTED_CONNECTIONS = 4
FIELDS = 8  # room to grow without changing the slot size

_SLOT_BYTES = FIELDS * 8


class WorkerState:
    """A view of every worker's counters over one shared mapping."""

    __slots__ = ("fd", "workers", "_map", "_view")

    def __init__(self, fd: int, workers: int) -> None:
        self.fd = fd
        self.workers = workers
        self._map = mmap.mmap(fd, workers * _SLOT_BYTES)
        self._view = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, workers: int) -> WorkerState:
        fd = os.memfd_create("gantry-workers", 0)  # inheritable is set by the spawner via pass_fds
        os.ftruncate(fd, workers * _SLOT_BYTES)
        return cls(fd, workers)

    def slot(self, index: int) -> memoryview:
        """The int64 fields of one worker; the worker increments them in place."""
        start = index * FIELDS
        return self._view[start : start + FIELDS]

    def total(self, field: int) -> int:
        return sum(self._view[i * FIELDS + field] for i in range(self.workers))

    def reset_slot(self, index: int) -> None:
        start = index * FIELDS
        for i in range(start, start + FIELDS):
            self._view[i] = 0
