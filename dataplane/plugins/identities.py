"""Consumers, credentials and other entities plugins look up, for one config version.

Built lazily, one kind at a time, the first time a plugin asks: a config without key-auth never
indexes its key-auth credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Loader = Callable[[str], list[dict[str, Any]]]  # entity kind -> its entities


class Identities:
    __slots__ = ("load", "indexes")

    def __init__(self, load: Loader) -> None:
        self.load = load
        self.indexes: dict[tuple[str, str], dict[Any, dict[str, Any]]] = {}

    @classmethod
    def from_snapshot(cls, snapshot: Any) -> Identities:
        return cls(lambda kind: [orjson.loads(item) for item in snapshot.entities(kind)])

    @classmethod
    def from_entities(cls, entities: dict[str, list[dict[str, Any]]]) -> Identities:
        return cls(lambda kind: entities.get(kind, []))

    def _index(self, kind: str, field: str) -> dict[Any, dict[str, Any]]:
        index = self.indexes.get((kind, field))
        if index is None:
            index = self.indexes[(kind, field)] = {e[field]: e for e in self.load(kind) if e.get(field) is not None}
        return index

    def entity(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        return self._index(kind, "id").get(entity_id)

    def find(self, kind: str, field: str, value: Any) -> dict[str, Any] | None:
        """The entity of ``kind`` whose (unique) ``field`` is ``value``."""
        return self._index(kind, field).get(value)
