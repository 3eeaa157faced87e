"""Consumers, credentials and other entities plugins look up, for one config version.

Built lazily, one kind and field at a time, the first time a plugin asks: a config without
key-auth never indexes its key-auth credentials. An ``Identities`` belongs to one config
version, so its indexes never need invalidating: the next version gets a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Loader = Callable[[str], list[dict[str, Any]]]  # entity kind -> its entities

_NONE: tuple[dict[str, Any], ...] = ()


def _key(value: Any) -> Any:
    """The index key of a field's value: a foreign key (``{"id": ...}``) by its id, so that
    ``find_all("acls", "consumer", consumer_id)`` finds a consumer's groups."""
    if isinstance(value, dict):
        return value.get("id")
    if isinstance(value, list):
        return None  # a list names no single entity; such fields are not looked up by value
    return value


class Identities:
    __slots__ = ("load", "indexes", "multi", "groups", "db")

    def __init__(self, load: Loader) -> None:
        self.load = load
        self.db: Any = None  # the PDK's kong.db over these entities (dataplane.pdk.kong.Db), once made
        self.indexes: dict[tuple[str, str], dict[Any, dict[str, Any]]] = {}
        self.multi: dict[tuple[str, str], dict[Any, tuple[dict[str, Any], ...]]] = {}
        self.groups: dict[str, tuple[str, ...]] = {}  # consumer id -> its group ids, by name

    @classmethod
    def from_snapshot(cls, snapshot: Any) -> Identities:
        return cls(lambda kind: [orjson.loads(item) for item in snapshot.entities(kind)])

    @classmethod
    def from_entities(cls, entities: dict[str, list[dict[str, Any]]]) -> Identities:
        return cls(lambda kind: entities.get(kind, []))

    def _index(self, kind: str, field: str) -> dict[Any, dict[str, Any]]:
        index = self.indexes.get((kind, field))
        if index is None:
            index = self.indexes[(kind, field)] = {}
            for entity in self.load(kind):
                key = _key(entity.get(field))
                if key is not None:
                    index[key] = entity
        return index

    def entity(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        return self._index(kind, "id").get(entity_id)

    def find(self, kind: str, field: str, value: Any) -> dict[str, Any] | None:
        """The entity of ``kind`` whose (unique) ``field`` is ``value``; a foreign key field is
        matched by the referenced id."""
        return self._index(kind, field).get(value)

    def find_all(self, kind: str, field: str, value: Any) -> tuple[dict[str, Any], ...]:
        """Every entity of ``kind`` whose ``field`` is ``value``, in the configuration's order
        (a consumer's ``acls`` by ``"consumer"``); empty when none. Indexed on first use."""
        index = self.multi.get((kind, field))
        if index is None:
            grouped: dict[Any, list[dict[str, Any]]] = {}
            for entity in self.load(kind):
                key = _key(entity.get(field))
                if key is not None:
                    grouped.setdefault(key, []).append(entity)
            index = self.multi[(kind, field)] = {key: tuple(items) for key, items in grouped.items()}
        return index.get(value, _NONE)

    def consumer_groups(self, consumer_id: str) -> tuple[str, ...]:
        """The ids of the consumer groups ``consumer_id`` belongs to, by group name: the order in
        which Kong lets a group's plugin config win when a consumer is in several."""
        found = self.groups.get(consumer_id)
        if found is None:
            named = []
            for member in self.find_all("consumer_group_consumers", "consumer", consumer_id):
                group = self.entity("consumer_groups", _key(member.get("consumer_group")) or "")
                if group is not None:
                    named.append((group.get("name") or "", group["id"]))
            found = self.groups[consumer_id] = tuple(group_id for _, group_id in sorted(named))
        return found
