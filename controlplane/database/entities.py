"""EntityStore: entity rows in PostgreSQL. Every write is one transaction that also appends
to the change log; uniqueness and references are enforced by the database's constraints."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg

from dataplane.schema import is_uuid

from . import bulk, changelog, paging, snis
from .changelog import Change
from .connection import acquire
from .errors import DatabaseUnavailable, NotBootstrapped, NotFound, StillReferenced
from .statements import statements
from .tables import TABLES, table
from .violations import foreign_key_on_delete, foreign_key_on_write, unique_violation

T = TypeVar("T")


class EntityStore:
    def __init__(self, pool: asyncpg.Pool, server: str, timeout: float) -> None:
        self._pool = pool
        self._server = server
        self._timeout = timeout  # seconds to wait for a free connection

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with acquire(self._pool, self._server, self._timeout) as connection:
                yield connection
        except asyncpg.UndefinedTableError:
            raise NotBootstrapped() from None

    async def _read(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run a read; once more on a fresh connection if a pooled one turned out dead
        (the server restarted since it was opened). Writes are never replayed."""
        try:
            async with self._connection() as connection:
                return await query(connection)
        except DatabaseUnavailable:
            async with self._connection() as connection:
                return await query(connection)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as connection, connection.transaction():
            yield connection

    # ------------------------------------------------------------------ writes

    async def insert(self, entity: str, row: dict) -> dict:
        st = statements(entity)
        stored, names = snis.split(entity, row)
        async with self._transaction() as connection:
            with _write_violations(entity, stored):
                await connection.execute(st.insert, *st.params(stored))
            await _record(connection, entity, stored["id"], "insert", names)
        return snis.joined(stored, names)

    async def update(self, entity: str, id: str, row: dict) -> dict:
        st = statements(entity)
        stored, names = snis.split(entity, {**row, "id": id})
        if not is_uuid(id):
            raise NotFound(entity, {"id": id})
        async with self._transaction() as connection:
            with _write_violations(entity, stored):
                status = await connection.execute(st.update, *st.params(stored))
            if status == "UPDATE 0":
                raise NotFound(entity, {"id": id})
            await _record(connection, entity, id, "update", names)
        return snis.joined(stored, names)

    async def upsert(self, entity: str, row: dict) -> tuple[dict, bool]:
        st = statements(entity)
        stored, names = snis.split(entity, row)
        async with self._transaction() as connection:
            with _write_violations(entity, stored):
                created = (await connection.fetchrow(st.upsert, *st.params(stored)))["created"]
            await _record(connection, entity, stored["id"], "insert" if created else "update", names)
        return snis.joined(stored, names), created

    async def insert_many(self, entity: str, rows: list[dict]) -> list[dict]:
        """Insert every row in one transaction: all of them, or none."""
        st = statements(entity)
        async with self._transaction() as connection:
            for row in rows:
                with _write_violations(entity, row):
                    await connection.execute(st.insert, *st.params(row))
            await changelog.record(connection, [(entity, row["id"], "insert") for row in rows])
        return rows

    async def delete(self, entity: str, id: str) -> bool:
        table(entity)
        if not is_uuid(id):
            return False
        async with self._transaction() as connection:
            # The row lock keeps new children from appearing between listing and deleting.
            if await connection.fetchval(f'SELECT 1 FROM "{entity}" WHERE "id" = $1 FOR UPDATE', id) is None:
                return False
            if entity == CA_CERTIFICATES:
                await _refuse_used_ca(connection, id)
            changes = await _cascaded(connection, entity, [id])
            if entity == snis.CERTIFICATES:
                changes += await snis.drop(connection, id)
            try:
                await connection.execute(f'DELETE FROM "{entity}" WHERE "id" = $1', id)
            except asyncpg.ForeignKeyViolationError as exc:
                raise foreign_key_on_delete(exc, entity) from None
            await changelog.record(connection, [*changes, (entity, id, "delete")])
        return True

    async def delete_many(self, entity: str, ids: list[str]) -> int:
        """Delete the rows of `ids` that exist (and what cascades from them) in one
        transaction under one change-log version; how many there were. Not for certificates,
        whose SNIs `delete` also removes."""
        table(entity)
        wanted = [i for i in ids if is_uuid(i)]
        if not wanted:
            return 0
        async with self._transaction() as connection:
            found = [
                str(r[0])
                for r in await connection.fetch(
                    f'SELECT "id" FROM "{entity}" WHERE "id" = ANY($1::uuid[]) ORDER BY "id" FOR UPDATE', wanted
                )
            ]
            if not found:
                return 0
            changes = await _cascaded(connection, entity, found)
            try:
                await connection.execute(f'DELETE FROM "{entity}" WHERE "id" = ANY($1::uuid[])', found)
            except asyncpg.ForeignKeyViolationError as exc:
                raise foreign_key_on_delete(exc, entity) from None
            await changelog.record(connection, [*changes, *((entity, i, "delete") for i in found)])
        return len(found)

    async def import_flat(self, flat: dict[str, list[dict]]) -> None:
        """Upsert every entity of `flat` by id (Kong's db_import), in one transaction;
        entities it does not name are kept."""
        async with self._transaction() as connection:
            changes = await bulk.upsert_all(connection, flat)
            if changes:
                await changelog.record(connection, changes)

    # ------------------------------------------------------------------ reads

    async def get(self, entity: str, id: str) -> dict | None:
        st = statements(entity)
        if not is_uuid(id):
            return None
        rows = await self._read(lambda c: _fetch(c, entity, f'{st.select} WHERE "id" = $1', id))
        return rows[0] if rows else None

    async def get_by_key(self, entity: str, key: str) -> dict | None:
        """By id when `key` is a uuid, else (or when no such id) by the endpoint key."""
        found = await self.get(entity, key)
        endpoint_key = table(entity).endpoint_key
        if found is not None or endpoint_key is None:
            return found
        return await self.get_by_field(entity, endpoint_key, key)

    async def get_by_field(self, entity: str, field: str, value: str) -> dict | None:
        """The row whose `field` (unique, so one of its table's columns) is `value`."""
        if field not in table(entity).columns:
            raise ValueError(f"'{entity}' cannot be searched by '{field}'")
        rows = await self._read(
            lambda c: _fetch(
                c, entity, f'{statements(entity).select} WHERE "{field}" = $1 ORDER BY "id" LIMIT 1', value
            )
        )
        return rows[0] if rows else None

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
        """Rows in id order; the offset to pass for the next page, or None after the last.

        `through` = (link entity, its foreign key to `entity`, its other foreign key, that
        one's id): only rows a link row ties to that id (a group's consumers, a consumer's
        groups)."""
        if size < 1:
            raise ValueError(f"page size must be at least 1, got {size}")
        st = statements(entity)
        conditions: list[str] = []
        args: list = []
        if offset is not None:
            args.append(paging.decode(offset, 1)[0])
            conditions.append(f'"id" > ${len(args)}')
        if tags:
            args.append(list(tags))
            conditions.append(f'"tags" {"&&" if tags_any else "@>"} ${len(args)}::text[]')
        if foreign is not None:
            field, parent_id = foreign
            if not is_uuid(parent_id):
                return [], None
            args.append(parent_id)
            conditions.append(f'"{st.table.foreign_key(field).column}" = ${len(args)}')
        if through is not None:
            link, own, other, other_id = through
            if not is_uuid(other_id):
                return [], None
            args.append(other_id)
            lt = table(link)
            conditions.append(
                f'"id" IN (SELECT "{lt.foreign_key(own).column}" FROM "{link}"'
                f' WHERE "{lt.foreign_key(other).column}" = ${len(args)})'
            )
        args.append(size + 1)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._read(
            lambda c: _fetch(c, entity, f'{st.select}{where} ORDER BY "id" LIMIT ${len(args)}', *args)
        )
        if len(rows) <= size:
            return rows, None
        rows = rows[:size]
        return rows, paging.encode(rows[-1]["id"])

    async def tags(
        self, *, size: int = 100, offset: str | None = None, tag: str | None = None
    ) -> tuple[list[dict], str | None]:
        """Rows {entity_name, entity_id, tag}, as Kong's /tags and /tags/{tag}."""
        if size < 1:
            raise ValueError(f"page size must be at least 1, got {size}")
        conditions: list[str] = []
        args: list = []
        if tag is not None:
            args.append(tag)
            conditions.append(f'"tag" = ${len(args)}')
        if offset is not None:
            last_id, last_tag = paging.decode(offset, 2)
            args += [last_id, last_tag]
            conditions.append(f'("entity_id", "tag") > (${len(args) - 1}::uuid, ${len(args)})')
        args.append(size + 1)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        records = await self._read(
            lambda c: c.fetch(
                f'SELECT "entity_name", "entity_id", "tag" FROM "tags"{where} '
                f'ORDER BY "entity_id", "tag" LIMIT ${len(args)}',
                *args,
            )
        )
        rows = [{"entity_name": r["entity_name"], "entity_id": str(r["entity_id"]), "tag": r["tag"]} for r in records]
        if len(rows) <= size:
            return rows, None
        rows = rows[:size]
        return rows, paging.encode(rows[-1]["entity_id"], rows[-1]["tag"])

    async def export(self) -> dict[str, list[dict]]:
        return (await self.snapshot())[1]

    async def snapshot(self) -> tuple[int, dict[str, list[dict]]]:
        """The change-log version and the flat config it describes, read consistently."""
        return await self._read(bulk.read_all)

    async def current_version(self) -> int:
        return await self._read(changelog.current)


CA_CERTIFICATES = "ca_certificates"


async def _refuse_used_ca(connection: asyncpg.Connection, id: str) -> None:
    """Kong's CA certificate DAO refuses the delete of one a service still lists in its
    ca_certificates (kong/db/dao/ca_certificates.lua), naming the first such service."""
    user = await connection.fetchval(
        """SELECT "id" FROM "services" WHERE "row" -> 'ca_certificates' ? $1 ORDER BY "id" LIMIT 1""", id
    )
    if user is not None:
        raise StillReferenced(CA_CERTIFICATES, id, "services", str(user))


async def _record(connection: asyncpg.Connection, entity: str, id: str, op: str, names: list[str] | None) -> None:
    """Log the write; a certificate's SNI list is replaced first, in the same transaction."""
    changes: list[Change] = [(entity, id, op)]
    if names is not None:
        with _write_violations("snis", {}):
            changes += await snis.replace(connection, id, names)
    await changelog.record(connection, changes)


async def _fetch(connection: asyncpg.Connection, entity: str, query: str, *args: object) -> list[dict]:
    rows = [r["row"] for r in await connection.fetch(query, *args)]
    return await snis.attach(connection, entity, rows)


@contextlib.contextmanager
def _write_violations(entity: str, row: dict) -> Iterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise unique_violation(exc, entity, row) from None
    except asyncpg.ForeignKeyViolationError as exc:
        raise foreign_key_on_write(exc, row) from None


async def _cascaded(connection: asyncpg.Connection, entity: str, ids: list[str]) -> list[Change]:
    """Deletes that ON DELETE CASCADE will perform below `ids`, deepest first."""
    changes: list[Change] = []
    for child in TABLES.values():
        for fk in child.foreign:
            if fk.parent != entity or not fk.cascade:
                continue
            child_ids = [
                str(r[0])
                for r in await connection.fetch(
                    f'SELECT "id" FROM "{child.entity}" WHERE "{fk.column}" = ANY($1::uuid[])', ids
                )
            ]
            if child_ids:
                changes += await _cascaded(connection, child.entity, child_ids)
                changes += [(child.entity, i, "delete") for i in child_ids]
    return changes
