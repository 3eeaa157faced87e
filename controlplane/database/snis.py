"""A certificate's `snis` list, as Kong's certificates DAO keeps it: not a column but the SNI
rows naming the certificate, written in the certificate's transaction and read back sorted."""

from __future__ import annotations

import time
import uuid

import asyncpg

from dataplane.schema import process

from .changelog import Change
from .errors import SniTaken, StoreError
from .statements import statements

CERTIFICATES = "certificates"
FIELD = "snis"


def split(entity: str, row: dict) -> tuple[dict, list[str] | None]:
    """The row to store (without `snis`) and, for a certificate, the names it must have
    (null or absent: none, as Kong's PUT without `snis`)."""
    if entity != CERTIFICATES:
        return row, None
    stored = {k: v for k, v in row.items() if k != FIELD}
    return stored, sorted(row.get(FIELD) or ())


def joined(row: dict, names: list[str] | None) -> dict:
    return row if names is None else {**row, FIELD: names}


async def replace(connection: asyncpg.Connection, certificate_id: str, names: list[str]) -> list[Change]:
    """Give the certificate exactly `names`: SNIs it already has are kept as they are, the
    others are deleted or created. Refused when a name belongs to another certificate."""
    rows = await connection.fetch(
        'SELECT "id"::text AS "id", "name", "certificate_id"::text AS "certificate" FROM "snis" '
        'WHERE "certificate_id" = $1 OR "name" = ANY($2::text[]) FOR UPDATE',
        certificate_id,
        names,
    )
    for row in sorted(rows, key=lambda r: r["name"]):
        if row["certificate"] != certificate_id:
            raise SniTaken(row["name"], row["certificate"])
    current = {r["name"]: r["id"] for r in rows}
    wanted = set(names)
    gone = [i for name, i in current.items() if name not in wanted]
    if gone:
        await connection.execute('DELETE FROM "snis" WHERE "id" = ANY($1::uuid[])', gone)
    now = int(time.time())
    created = [_sni(name, certificate_id, now) for name in names if name not in current]
    if created:
        st = statements("snis")
        await connection.executemany(st.insert, [st.params(row) for row in created])
    return [("snis", i, "delete") for i in gone] + [("snis", r["id"], "insert") for r in created]


def _sni(name: str, certificate_id: str, now: int) -> dict:
    row, errors = process(
        "snis", {"id": str(uuid.uuid4()), "name": name, "certificate": {"id": certificate_id}}, now=now
    )
    if errors:  # the certificate's schema already checked every name
        raise StoreError(f"invalid SNI '{name}': {errors}")
    return row


async def drop(connection: asyncpg.Connection, certificate_id: str) -> list[Change]:
    """Delete the certificate's SNIs (Kong deletes them with it)."""
    ids = await connection.fetch('DELETE FROM "snis" WHERE "certificate_id" = $1 RETURNING "id"::text', certificate_id)
    return [("snis", r[0], "delete") for r in ids]


async def attach(connection: asyncpg.Connection, entity: str, rows: list[dict]) -> list[dict]:
    """Certificates read back with their sorted `snis` list; other rows as they are."""
    if entity != CERTIFICATES or not rows:
        return rows
    found = await connection.fetch(
        'SELECT "certificate_id"::text, "name" FROM "snis" WHERE "certificate_id" = ANY($1::uuid[])',
        [r["id"] for r in rows],
    )
    names: dict[str, list[str]] = {}
    for certificate_id, name in found:
        names.setdefault(certificate_id, []).append(name)
    # Python's order is Lua's table.sort on UTF-8 bytes; a collation might not be
    return [{**r, FIELD: sorted(names.get(r["id"], ()))} for r in rows]
