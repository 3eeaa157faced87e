"""The control plane's PostgreSQL store.

db = await Database.connect(conf)          # conf: dataplane.conf.Conf (pg_* keys)
await db.migrations.bootstrap()
row = await db.entities.insert("services", full_row)
"""

from .database import Database
from .entities import EntityStore
from .errors import (
    DatabaseUnavailable,
    ForeignKeyViolation,
    InvalidOffset,
    MigrationsPending,
    NotBootstrapped,
    NotFound,
    PluginNotEnabled,
    PrimaryKeyViolation,
    ReferencedByOthers,
    SniTaken,
    StillReferenced,
    StoreError,
    UniqueViolation,
)
from .migrator import Migrations, Status

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "EntityStore",
    "ForeignKeyViolation",
    "InvalidOffset",
    "Migrations",
    "MigrationsPending",
    "NotBootstrapped",
    "NotFound",
    "PluginNotEnabled",
    "PrimaryKeyViolation",
    "ReferencedByOthers",
    "SniTaken",
    "Status",
    "StillReferenced",
    "StoreError",
    "UniqueViolation",
]
