"""Indexes kept next to the stored entities, so a delta can be checked by key lookups.

`refs`: `<referenced type>|<referenced id>|<type>|<id>` -> empty, one per foreign key set, to
find what points at an entity a delta deletes. `unique`: `<type>|<field>|<digest of the JSON
value>` -> owner id, one per unique field set (digested: values may exceed LMDB's key limit).
The writer updates both in the transaction that changes the entities they describe.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import lmdb
import orjson

from dataplane.schema import ENTITIES

REFS_DB = b"refs"
UNIQUE_DB = b"unique"


def entity_key(entity_type: str, entity_id: str) -> bytes:
    return f"{entity_type}|{entity_id}".encode()


@functools.cache
def _foreign(entity_type: str) -> tuple[tuple[str, str], ...]:
    """(field, referenced type) of each foreign key; looked up once per type, not per entity."""
    schema = ENTITIES.get(entity_type)
    return schema.references if schema is not None else ()


@functools.cache
def _unique(entity_type: str) -> tuple[str, ...]:
    schema = ENTITIES.get(entity_type)
    return tuple(name for name, field in schema.fields if field.unique) if schema is not None else ()


def references(entity_type: str, entity: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(referenced type, id) of each well-formed foreign key of `entity`."""
    for name, reference in _foreign(entity_type):
        value = entity.get(name)
        ref = value.get("id") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref:
            yield reference, ref


def unique_values(entity_type: str, entity: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field, value) of each unique field set; only scalars can be compared, as validate_flat does."""
    for name in _unique(entity_type):
        value = entity.get(name)
        if value is not None and isinstance(value, (str, int, float)):
            yield name, value


def ref_key(ref_type: str, ref_id: str, entity_type: str, entity_id: str) -> bytes:
    return f"{ref_type}|{ref_id}|{entity_type}|{entity_id}".encode()


def unique_key(entity_type: str, field: str, value: Any) -> bytes:
    digest = hashlib.blake2b(orjson.dumps(value), digest_size=16).hexdigest()
    return f"{entity_type}|{field}|{digest}".encode()


def index_records(flat: Mapping[str, Any]) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """Sorted (refs, unique) records of a whole config, for an append-only bulk write."""
    refs: list[tuple[bytes, bytes]] = []
    unique: dict[bytes, bytes] = {}
    for entity_type, entities in flat.items():
        for entity in entities:
            entity_id = str(entity["id"])
            refs.extend((ref_key(t, i, entity_type, entity_id), b"") for t, i in references(entity_type, entity))
            for field, value in unique_values(entity_type, entity):
                unique[unique_key(entity_type, field, value)] = entity_id.encode()
    return sorted(set(refs)), sorted(unique.items())


class StoredEntities:
    """The committed config seen from one transaction: lookups, and index upkeep in a write
    transaction."""

    def __init__(
        self, txn: lmdb.Transaction[bytes], entities: lmdb._Database, refs: lmdb._Database, unique: lmdb._Database
    ) -> None:
        self._txn = txn
        self._entities = entities
        self._refs = refs
        self._unique = unique

    def has(self, entity_type: str, entity_id: str) -> bool:
        with self._txn.cursor(db=self._entities) as cursor:
            return cursor.set_key(entity_key(entity_type, entity_id))

    def get(self, entity_type: str, entity_id: str) -> dict | None:
        raw = self._txn.get(entity_key(entity_type, entity_id), db=self._entities)
        return None if raw is None else orjson.loads(raw)

    def referrers(self, entity_type: str, entity_id: str) -> list[tuple[str, str]]:
        """(type, id) of every stored entity with a foreign key to this one."""
        prefix = f"{entity_type}|{entity_id}|".encode()
        found = []
        with self._txn.cursor(db=self._refs) as cursor:
            if cursor.set_range(prefix):
                for key in cursor.iternext(values=False):
                    if not key.startswith(prefix):
                        break
                    referrer_type, referrer_id = bytes(key[len(prefix) :]).decode().split("|", 1)
                    found.append((referrer_type, referrer_id))
        return found

    def scan(self, entity_type: str, after: str | None = None) -> Iterator[dict]:
        """The stored entities of one type in id order, from the first id above `after`."""
        prefix = f"{entity_type}|".encode()
        start = prefix + (after or "").encode()
        with self._txn.cursor(db=self._entities) as cursor:
            if not cursor.set_range(start):
                return
            for key, value in cursor:
                if not key.startswith(prefix):
                    break
                if after is not None and key == start:
                    continue
                yield orjson.loads(value)

    def unique_owner(self, entity_type: str, field: str, value: Any) -> str | None:
        owner = self._txn.get(unique_key(entity_type, field, value), db=self._unique)
        return None if owner is None else bytes(owner).decode()

    # ---- upkeep: the writer calls these, deletes before upserts, as the delta means them

    def delete(self, entity_type: str, entity_id: str) -> None:
        old = self.get(entity_type, entity_id)
        if old is not None:
            self._unindex(entity_type, entity_id, old)
            self._txn.delete(entity_key(entity_type, entity_id), db=self._entities)

    def put(self, entity_type: str, entity: Mapping[str, Any], value: bytes) -> None:
        entity_id = str(entity["id"])
        old = self.get(entity_type, entity_id)
        if old is not None:
            self._unindex(entity_type, entity_id, old)
        self._txn.put(entity_key(entity_type, entity_id), value, db=self._entities)
        for ref_type, ref_id in references(entity_type, entity):
            self._txn.put(ref_key(ref_type, ref_id, entity_type, entity_id), b"", db=self._refs)
        for field, unique in unique_values(entity_type, entity):
            self._txn.put(unique_key(entity_type, field, unique), entity_id.encode(), db=self._unique)

    def _unindex(self, entity_type: str, entity_id: str, old: Mapping[str, Any]) -> None:
        for ref_type, ref_id in references(entity_type, old):
            self._txn.delete(ref_key(ref_type, ref_id, entity_type, entity_id), db=self._refs)
        for field, value in unique_values(entity_type, old):
            # Another upsert of this delta may have taken the value over already: keep its entry.
            if self.unique_owner(entity_type, field, value) == entity_id:
                self._txn.delete(unique_key(entity_type, field, value), db=self._unique)
