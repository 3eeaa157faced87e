"""The node's pid file, `<prefix>/pids/nginx.pid` (Kong's name, so scripts that read Kong's
find it), and the lock that keeps a second node off a running prefix.

The process that serves a prefix (`dataplane run`, `controlplane run`, or the daemon that
`start` leaves running) holds an exclusive `flock` on the file for its whole life; the lock,
not the file's existence, says whether the prefix is in use, so a file left by a node that was
killed does not block the next start. The pid is written once the node is up (its listeners
bound and its workers serving), which is what `start` waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable

PID_DIR = "pids"
PID_NAME = "nginx.pid"

# A reader (`health`, `stop`) holds a shared lock for a moment to see whether the file is
# locked; a node acquiring it retries for this long before calling the prefix taken.
_ACQUIRE_RETRY = 0.5


class AlreadyRunning(Exception):
    def __init__(self, prefix: str) -> None:
        super().__init__(f"Gantry is already running in {prefix}")
        self.prefix = prefix


def path_for(prefix: str) -> str:
    return os.path.join(prefix, PID_DIR, PID_NAME)


class PidFile:
    """The held lock on a prefix's pid file."""

    def __init__(self, prefix: str, fd: int) -> None:
        self.prefix = prefix
        self.path = path_for(prefix)
        self.fd = fd

    def publish(self) -> None:
        """Write this process's pid: the node is up."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # while still locked: no other node can have taken it
        os.close(self.fd)
        self.fd = -1


_held: PidFile | None = None


def hold(prefix: str) -> PidFile:
    """Lock the prefix's pid file for this process; raise AlreadyRunning when another process
    holds it. The file is written with the pid only by publish()."""
    global _held
    if _held is not None and _held.prefix == prefix and _held.fd >= 0:
        return _held
    os.makedirs(os.path.join(prefix, PID_DIR), exist_ok=True)
    fd = os.open(path_for(prefix), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + _ACQUIRE_RETRY
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or time.monotonic() >= deadline:
                os.close(fd)
                raise AlreadyRunning(prefix) from None
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    _held = PidFile(prefix, fd)
    return _held


def held() -> PidFile | None:
    return _held


def publish() -> None:
    """The node is up: write the pid into the held pid file (nothing when none is held)."""
    if _held is not None and _held.fd >= 0:
        _held.publish()


def release() -> None:
    global _held
    if _held is not None:
        _held.release()
        _held = None


async def publish_when(is_up: Callable[[], bool], interval: float = 0.05) -> None:
    """Publish the pid once `is_up()` is true (polled on the event loop)."""
    while not is_up():
        await asyncio.sleep(interval)
    publish()


def locked(prefix: str) -> bool:
    """Whether a live process holds the prefix's pid file."""
    try:
        fd = os.open(path_for(prefix), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock at once
    return False


def running_pid(prefix: str) -> int | None:
    """The pid of the node up on this prefix, None when none is (or it is still starting)."""
    if not locked(prefix):
        return None
    try:
        with open(path_for(prefix), encoding="ascii") as f:
            text = f.read().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def is_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _not_zombie(pid)


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                found += [int(p) for p in f.read().split()]
        except OSError:
            continue
    return [p for p in found if _not_zombie(p)]


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
