"""Kong's config hash (dataplane.declarative.hashing) kept current cheaply after a change.

Hashing a config re-serialises every entity into Kong's canonical string, about 45 µs each in
Python: half a second for 10k services and routes, on every change. Here each entity's
canonical bytes are kept, with the offsets at which Kong's hasher checks its buffer (it
collapses a buffer over 1 MB into its md5 to bound memory, so the result depends on where
those checks fall); a section is then rehashed by replaying the kept bytes through md5.
Only types that changed are rehashed, and only changed entities re-serialised. The result is
identical to `config_hash` (the tests compare them).
"""
from __future__ import annotations

import bisect
import hashlib
from typing import Any, Iterable

from dataplane.declarative import hashing as kong

LIMIT = kong._BUFFER_LIMIT
EMPTY_HASH = kong.EMPTY_HASH
HASHED_TYPES = kong.HASHED_TYPES


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


Recorded = tuple[bytes, tuple[int, ...]]  # an entity's bytes followed by ";", its checks


def record(entity: dict) -> Recorded:
    recorder = _Recorder()
    kong._put(entity, recorder)
    recorder.put(b";")  # what follows each element of a long array
    return b"".join(recorder.parts), tuple(recorder.checks)


class _Replay:
    """The hasher's buffer with its collapse rule, kept as a running md5."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.size = 0

    def put(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.md5.update(data)
        self.size += len(data)

    def check(self) -> None:
        if self.size > LIMIT:
            digest = self.md5.digest()
            self.md5 = hashlib.md5(digest)
            self.size = len(digest)

    def put_recorded(self, recorded: Recorded) -> None:
        data, checks = recorded
        if checks[-1] <= LIMIT - self.size:  # the common case: no check can collapse
            self.md5.update(data)
            self.size += len(data)
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


def _put_section(rows: list[dict], recorded: list[Recorded], out: _Replay) -> None:
    if len(rows) <= 5:  # Kong joins short arrays differently; cheap to do directly
        kong._put(rows, out)
        return
    out.check()
    for item in recorded:
        out.put_recorded(item)


class IncrementalHasher:
    """Per-type hashes of a config held as {type: {id: entity}}; `update()` after changes."""

    def __init__(self) -> None:
        self._recorded: dict[str, dict[str, tuple[dict, Recorded]]] = {}
        self._sections: dict[str, str] = {}  # type -> hash of its section (hashed types)
        self._order: dict[str, list[str]] = {}  # type -> its ids sorted, while they last

    def _section(self, name: str, entities: dict[str, dict]) -> tuple[list[dict], list[Recorded]]:
        cache = self._recorded.setdefault(name, {})
        order = self._order.get(name)
        if order is None or len(order) != len(entities) or cache.keys() != entities.keys():
            for gone in cache.keys() - entities.keys():
                del cache[gone]
            order = self._order[name] = sorted(entities)
        rows: list[dict] = []
        recorded: list[Recorded] = []
        for id in order:
            entity = entities[id]
            kept = cache.get(id)
            if kept is None or kept[0] is not entity:  # a new or replaced row object
                kept = cache[id] = (entity, record(entity))
            rows.append(entity)
            recorded.append(kept[1])
        return rows, recorded

    def update(self, config: dict[str, dict[str, dict]],
               changed: Iterable[str] | None = None) -> tuple[str, dict[str, str]]:
        """(config hash, per-type hashes); `changed` names the types to rehash (all if None)."""
        changed = set(config) if changed is None else set(changed)
        for name in HASHED_TYPES:
            if name in changed or name not in self._sections:
                entities = config.get(name) or {}
                if entities:
                    out = _Replay()
                    _put_section(*self._section(name, entities), out)
                    self._sections[name] = out.md5.hexdigest()
                else:
                    self._recorded.pop(name, None)
                    self._sections[name] = EMPTY_HASH
        rest_types = sorted(n for n in config if n not in HASHED_TYPES)
        if "rest" not in self._sections or changed.intersection(rest_types):
            self._sections["rest"] = self._rest(config, rest_types)
        hashes = {name: self._sections[name] for name in (*HASHED_TYPES, "rest")}
        combined = "".join(hashes.values())
        return hashlib.md5(combined.encode()).hexdigest(), hashes

    def _rest(self, config: dict[str, dict[str, dict]], names: list[str]) -> str:
        # Kong's rest: a table of the format keys and every other non-empty section.
        top: dict[str, Any] = {"_format_version": "3.0", "_transform": False}
        top.update((name, config[name]) for name in names if config[name])
        out = _Replay()
        out.check()
        for key in sorted(top):
            out.put(key)
            out.put(":")
            value = top[key]
            if isinstance(value, dict):
                _put_section(*self._section(key, value), out)
            else:
                kong._put(value, out)
            out.put(";")
        return out.md5.hexdigest()
