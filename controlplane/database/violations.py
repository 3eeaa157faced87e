"""PostgreSQL constraint violations -> typed store errors, named from the constraint."""

from __future__ import annotations

import asyncpg

from .errors import ForeignKeyViolation, PrimaryKeyViolation, ReferencedByOthers, StoreError, UniqueViolation
from .tables import constraint_fields, constraint_foreign_key


def unique_violation(exc: asyncpg.UniqueViolationError, entity: str, row: dict) -> StoreError:
    name = exc.constraint_name or ""
    if name == f"{entity}_pkey":
        return PrimaryKeyViolation(entity, {"id": row.get("id")})
    found = constraint_fields(name)
    if found is None:
        raise exc  # a constraint this module does not know: a migration/layout mismatch
    owner, fields = found
    return UniqueViolation(owner, {f: row.get(f) for f in fields})


def foreign_key_on_write(exc: asyncpg.ForeignKeyViolationError, row: dict) -> StoreError:
    found = constraint_foreign_key(exc.constraint_name or "")
    if found is None:
        raise exc
    entity, fk = found
    return ForeignKeyViolation(entity, fk.field, fk.parent, dict(row.get(fk.field) or {}))


def foreign_key_on_delete(exc: asyncpg.ForeignKeyViolationError, entity: str) -> StoreError:
    found = constraint_foreign_key(exc.constraint_name or "")
    if found is None:
        raise exc
    referencing, _ = found
    return ReferencedByOthers(entity, referencing)
