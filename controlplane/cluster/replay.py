"""Kong's hasher buffer (dataplane.declarative.hashing) as a running md5, fed with entities'
kept bytes instead of re-serialising them.

Kong's hasher collapses its buffer into the buffer's md5 whenever it holds more than 1 MB at
one of its checks (one before every value it writes), so the hash depends on where those checks
fall. An entity is therefore kept as its bytes plus the offsets of its checks; replaying it
honours only the checks that can collapse.
"""

from __future__ import annotations

import bisect
import hashlib

from dataplane.declarative import hashing as kong

LIMIT = kong.BUFFER_LIMIT

Recorded = tuple[bytes, tuple[int, ...]]  # an entity's bytes followed by ";", its checks


class _Recorder:
    """Takes the place of the hasher's buffer while one entity is serialised."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.checks: list[int] = []

    def put(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.parts.append(data)
        self.size += len(data)

    def check(self) -> None:
        self.checks.append(self.size)


def record(entity: dict) -> Recorded:
    """An entity as Kong serialises it inside an array of more than five."""
    recorder = _Recorder()
    kong.write_sorted(entity, recorder)
    recorder.put(b";")  # what follows each element of a long array
    return b"".join(recorder.parts), tuple(recorder.checks)


class Replay:
    """The hasher's buffer with its collapse rule, kept as a running md5."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.size = 0

    def copy(self) -> Replay:
        other = Replay.__new__(Replay)
        other.md5, other.size = self.md5.copy(), self.size
        return other

    def put(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.md5.update(data)
        self.size += len(data)

    def check(self) -> None:
        if self.size > LIMIT:
            digest = self.md5.digest()
            self.md5 = hashlib.md5(digest)
            self.size = len(digest)

    def put_run(self, data: bytes, last_check: int) -> bool:
        """Put `data` whole if none of its checks (the last at `last_check`) can collapse the
        buffer; False, putting nothing, if one can."""
        if self.size + last_check > LIMIT:
            return False
        self.md5.update(data)
        self.size += len(data)
        return True

    def put_recorded(self, recorded: Recorded) -> None:
        data, checks = recorded
        if self.put_run(data, checks[-1]):  # the common case: no check can collapse
            return
        start = 0
        while True:
            # the first check at which the buffer would hold more than LIMIT bytes
            i = bisect.bisect_right(checks, LIMIT - self.size + start)
            if i == len(checks):
                break
            at = checks[i]
            self.put(data[start:at])
            self.check()
            start = at
        self.put(data[start:])
