"""The Admin API's store on a DB-less node: the configuration the node serves, read from its
LMDB cache, behind the interface the handlers call on PostgreSQL's `EntityStore` (get, page,
tags...), so the same handlers, pagination, rendering and errors answer both. Every write is
refused as Kong's `off` strategy refuses it (kong/db/strategies/off/init.lua: code 12,
"operation unsupported", mapped to its 405 by `failures`).

Reads run on the event loop, each in one LMDB read transaction that never spans an await: the
node's writer may commit a new configuration between two calls (as between two pages on
Kong), never in the middle of one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, Protocol

from controlplane.database import paging
from controlplane.database.errors import StillReferenced, StoreError
from dataplane.lmdb_cache.index import StoredEntities
from dataplane.schema import ENTITIES, is_uuid

CERTIFICATES = "certificates"
CA_CERTIFICATES = "ca_certificates"


class OperationUnsupported(StoreError):
    """A write on a node without a database; `operation` is the verb of Kong's message
    ("create", "update", "create or update", "remove")."""

    def __init__(self, operation: str, entity: str) -> None:
        self.operation = operation
        self.entity = entity
        super().__init__(f"cannot {operation} '{entity}' entities when not using a database")


class ConfigSource(Protocol):
    """Where the configuration is read: the node's `ConfigStore`."""

    def reading(self) -> Any: ...  # a context manager yielding StoredEntities


@functools.cache
def _reference(entity: str, field: str) -> str:
    """The entity type the foreign key `field` of `entity` points to."""
    return dict(ENTITIES[entity].references)[field]


@functools.cache
def _unique(entity: str) -> frozenset[str]:
    return frozenset(name for name, field in ENTITIES[entity].fields if field.unique)


@functools.cache
def _tagged() -> tuple[str, ...]:
    return tuple(name for name, schema in ENTITIES.items() if any(f == "tags" for f, _ in schema.fields))


def _with_snis(view: StoredEntities, entity: str, row: dict) -> dict:
    """A certificate as the Admin API shows it: with the sorted names of its SNIs (Kong's
    certificates DAO), which the configuration keeps as entities of their own."""
    if entity != CERTIFICATES:
        return row
    names = []
    for kind, sni_id in view.referrers(CERTIFICATES, row["id"]):
        sni = view.get(kind, sni_id) if kind == "snis" else None
        if sni is not None:
            names.append(sni["name"])
    return {**row, "snis": sorted(names)}


def _tags_match(row: dict, tags: list[str], any_of: bool) -> bool:
    have = row.get("tags") or ()
    return any(t in have for t in tags) if any_of else all(t in have for t in tags)


class OfflineStore:
    """Read-only `EntityStore` over `source`."""

    def __init__(self, source: ConfigSource) -> None:
        self._source = source

    # ------------------------------------------------------------------ reads

    async def get(self, entity: str, id: str) -> dict | None:
        if not is_uuid(id):
            return None
        with self._source.reading() as view:
            row = view.get(entity, id)
            return None if row is None else _with_snis(view, entity, row)

    async def get_by_key(self, entity: str, key: str) -> dict | None:
        """By id when `key` is a uuid, else (or when no such id) by the endpoint key."""
        found = await self.get(entity, key)
        endpoint_key = ENTITIES[entity].endpoint_key
        if found is not None or endpoint_key is None:
            return found
        return await self.get_by_field(entity, endpoint_key, key)

    async def get_by_field(self, entity: str, field: str, value: str) -> dict | None:
        """The entity whose `field` (a unique one) is `value`."""
        if field not in _unique(entity):
            raise ValueError(f"'{entity}' cannot be searched by '{field}'")
        with self._source.reading() as view:
            owner = view.unique_owner(entity, field, value)
            row = view.get(entity, owner) if owner is not None else None
            if row is None or row.get(field) != value:
                return None
            return _with_snis(view, entity, row)

    async def page(
        self,
        entity: str,
        *,
        size: int = 100,
        offset: str | None = None,
        tags: list[str] | None = None,
        tags_any: bool = False,
        foreign: tuple[str, str] | None = None,
        through: tuple[str, str, str, str] | None = None,
    ) -> tuple[list[dict], str | None]:
        """Entities in id order and the offset of the next page (None after the last), as
        `EntityStore.page`: `foreign` = (field, parent id), `through` = (link entity, its
        foreign key to `entity`, its other foreign key, that one's id)."""
        if size < 1:
            raise ValueError(f"page size must be at least 1, got {size}")
        after = paging.decode(offset, 1)[0] if offset is not None else None
        ENTITIES[entity]  # an unknown entity is a bug, as on PostgreSQL
        with self._source.reading() as view:
            rows: list[dict] = []
            for row in self._candidates(view, entity, after, foreign, through):
                if tags and not _tags_match(row, tags, tags_any):
                    continue
                rows.append(row)
                if len(rows) > size:
                    break
            more = len(rows) > size
            rows = [_with_snis(view, entity, row) for row in rows[:size]]
        return rows, paging.encode(rows[-1]["id"]) if more else None

    def _candidates(
        self,
        view: StoredEntities,
        entity: str,
        after: str | None,
        foreign: tuple[str, str] | None,
        through: tuple[str, str, str, str] | None,
    ) -> Iterator[dict]:
        if foreign is None and through is None:
            yield from view.scan(entity, after)
            return
        ids: set[Any]
        if foreign is not None:
            field, parent_id = foreign
            if not is_uuid(parent_id):
                return
            ids = {
                i
                for kind, i in view.referrers(_reference(entity, field), parent_id)
                if kind == entity and ((view.get(entity, i) or {}).get(field) or {}).get("id") == parent_id
            }
        else:
            assert through is not None
            link, own, other, other_id = through
            if not is_uuid(other_id):
                return
            ids = set()
            for kind, i in view.referrers(_reference(link, other), other_id):
                row = view.get(kind, i) if kind == link else None
                if row is not None and (row.get(other) or {}).get("id") == other_id:
                    ids.add((row.get(own) or {}).get("id"))
        for i in sorted(i for i in ids if isinstance(i, str) and (after is None or i > after)):
            row = view.get(entity, i)
            if row is not None:
                yield row

    async def tags(
        self, *, size: int = 100, offset: str | None = None, tag: str | None = None
    ) -> tuple[list[dict], str | None]:
        """Rows {entity_name, entity_id, tag} in (entity_id, tag) order, as Kong's /tags."""
        if size < 1:
            raise ValueError(f"page size must be at least 1, got {size}")
        start = tuple(paging.decode(offset, 2)) if offset is not None else None
        found: list[tuple[str, str, str]] = []
        with self._source.reading() as view:
            for entity in _tagged():
                for row in view.scan(entity):
                    for t in row.get("tags") or ():
                        if (tag is None or t == tag) and (start is None or (row["id"], t) > start):
                            found.append((row["id"], t, entity))
        found.sort()
        rows = [{"entity_name": e, "entity_id": i, "tag": t} for i, t, e in found[: size + 1]]
        if len(rows) <= size:
            return rows, None
        rows = rows[:size]
        return rows, paging.encode(rows[-1]["entity_id"], rows[-1]["tag"])

    # ------------------------------------------------------------------ writes: refused

    async def insert(self, entity: str, row: dict) -> dict:
        raise OperationUnsupported("create", entity)

    async def insert_many(self, entity: str, rows: list[dict]) -> list[dict]:
        raise OperationUnsupported("create", entity)

    async def update(self, entity: str, id: str, row: dict) -> dict:
        raise OperationUnsupported("update", entity)

    async def upsert(self, entity: str, row: dict) -> tuple[dict, bool]:
        raise OperationUnsupported("create or update", entity)

    async def delete(self, entity: str, id: str) -> bool:
        if entity == CA_CERTIFICATES and is_uuid(id):
            # Kong's CA certificate DAO looks for a service listing it before its off
            # strategy refuses the delete (kong/db/dao/ca_certificates.lua)
            with self._source.reading() as view:
                users = sorted(row["id"] for row in view.scan("services") if id in (row.get("ca_certificates") or ()))
            if users:
                raise StillReferenced(entity, id, "services", users[0])
        raise OperationUnsupported("remove", entity)

    async def delete_many(self, entity: str, ids: list[str]) -> int:
        raise OperationUnsupported("remove", entity)


class OfflineDatabase:
    """What `ApiContext.db` is on a DB-less node: the offline store, always reachable."""

    def __init__(self, source: ConfigSource) -> None:
        self.entities = OfflineStore(source)

    def reachable(self) -> bool:
        return True
