"""One entity type as Kong's hasher writes it (the array of its rows in id order), kept so that
a change costs what it touches plus md5 over the bytes after it.

md5 runs in one direction, so a changed row changes the hash of everything after it; what can
be kept is everything before it. The rows are held in id order in blocks of about BLOCK, each
with its bytes joined and the hasher's state at its start: a change re-joins one block, and the
hash resumes from that block's state, feeding md5 one joined block at a time (no Python per row
after the change).
"""

from __future__ import annotations

import bisect

from dataplane.declarative import hashing as kong

from .replay import Recorded, Replay, record

BLOCK = 128  # rows per block: re-joining one costs ~BLOCK appends, feeding md5 ~1 call per block
SHORT = 5  # Kong joins an array of at most this many rows differently (no ";" after the last)


class _Block:
    __slots__ = ("ids", "data", "last_check")

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.data: bytes | None = None  # the rows' kept bytes joined; None after a change
        self.last_check = 0  # offset in `data` of its last check


class Section:
    """The rows of one type, their kept bytes, and the hasher's states between blocks."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[dict, Recorded]] = {}
        self._blocks: list[_Block] = []
        self._firsts: list[str] = []  # each block's first id, to find a row's block
        # The hasher's state before each block, valid up to `_dirty_from` included: rows before
        # a change are unchanged, so are the states up to its block. A state at the end
        # (`_dirty_from == len(_blocks)`) is that before a block deleted since.
        self._states: list[Replay] = []
        self._dirty_from: int | None = 0  # None: nothing changed since `emit`

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def dirty(self) -> bool:
        return self._dirty_from is not None

    @property
    def resumable(self) -> bool:
        """Whether `emit(None)` may carry on from kept states (it has been emitted before)."""
        return bool(self._states)

    @classmethod
    def of(cls, entities: dict[str, dict]) -> Section:
        section = cls()
        ids = sorted(entities)
        section._rows = {id: (entities[id], record(entities[id])) for id in ids}
        section._blocks = [_Block(ids[i : i + BLOCK]) for i in range(0, len(ids), BLOCK)]
        section._firsts = [block.ids[0] for block in section._blocks]
        return section

    def upsert(self, id: str, entity: dict) -> None:
        kept = self._rows.get(id)
        if kept is not None and kept[0] is entity:
            return
        self._rows[id] = (entity, record(entity))
        if not self._blocks:
            self._blocks.append(_Block([id]))
            self._firsts.append(id)
            self._changed(0)
            return
        i = max(0, bisect.bisect_right(self._firsts, id) - 1)
        block = self._blocks[i]
        if kept is None:
            bisect.insort(block.ids, id)
            self._firsts[i] = block.ids[0]
            if len(block.ids) > 2 * BLOCK:
                half = _Block(block.ids[BLOCK:])
                del block.ids[BLOCK:]
                self._blocks.insert(i + 1, half)
                self._firsts.insert(i + 1, half.ids[0])
        self._changed(i)

    def delete(self, id: str) -> None:
        if self._rows.pop(id, None) is None:
            return
        i = bisect.bisect_right(self._firsts, id) - 1
        block = self._blocks[i]
        block.ids.remove(id)
        if block.ids:
            self._firsts[i] = block.ids[0]
        else:  # the next block starts where this one did: the state kept for `i` still holds
            del self._blocks[i], self._firsts[i]
        self._changed(i)

    def _changed(self, i: int) -> None:
        if i < len(self._blocks):
            self._blocks[i].data = None
        self._dirty_from = i if self._dirty_from is None else min(self._dirty_from, i)

    def emit(self, out: Replay | None) -> Replay:
        """Write the section as Kong's `_put` of its rows in id order; `out` is the hasher's
        state at its start, or None when that is the state of the previous `emit` (then it
        carries on from the state kept before the first changed block). Returns the state
        after it."""
        if out is None:
            start = (
                0 if len(self) <= SHORT or self._dirty_from is None else min(self._dirty_from, len(self._states) - 1)
            )
            out = self._states[start].copy()
            del self._states[start + 1 :]
        else:
            start = 0
            self._states = [out.copy()]
        if len(self) <= SHORT:
            kong.write_sorted([self._rows[id][0] for block in self._blocks for id in block.ids], out)
        else:
            if start == 0:
                out.check()  # the array's own, before its first row
            for i in range(start, len(self._blocks)):
                if i > start:
                    self._states.append(out.copy())
                self._put_block(self._blocks[i], out)
        self._dirty_from = None
        return out

    def _put_block(self, block: _Block, out: Replay) -> None:
        if block.data is None:
            kept = [self._rows[id][1] for id in block.ids]
            block.data = b"".join(data for data, _ in kept)
            last_data, last_checks = kept[-1]
            block.last_check = len(block.data) - len(last_data) + last_checks[-1]
        if not out.put_run(block.data, block.last_check):  # a collapse falls inside
            for id in block.ids:
                out.put_recorded(self._rows[id][1])
