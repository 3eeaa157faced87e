"""The supervisor's side of the LMDB config cache (layout: docs/internals.md).

One environment directory; every applied config is one write transaction, so readers
(`dataplane._core.Store`, in the workers) see either the previous config or the new one whole.
Never open a reader in the process that holds a `ConfigStore`: LMDB's fcntl locks belong to
the process, and two LMDB copies in one process would undo each other's.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import lmdb
import orjson

from dataplane.lmdb_cache.index import REFS_DB, UNIQUE_DB, StoredEntities, entity_key, index_records

log = logging.getLogger(__name__)

# gantry/2 added the `refs` and `unique` indexes: a gantry/1 cache lacks them and is wiped.
FORMAT = b"gantry/2"
# Shared with the Rust reader (rust/src/lmdb/layout.rs); both must agree.
MAX_DBS = 4
MAX_READERS = 256
# meta key naming the entities the last delta wrote or deleted, and the (version, hash) it was
# applied to: a reader that serves exactly that config reads only those entities.
DELTA_KEY = b"delta"
# The reader bundles LMDB 0.9; py-lmdb would otherwise pick its engine from the environment.
LMDB_MAJOR = 0


class StoreFullError(Exception):
    """The config does not fit in the LMDB map; the previous config is still stored."""


class StaleBaseError(Exception):
    """A delta was computed from another version than the stored one; nothing was written."""

    def __init__(self, expected: int, stored: int | None) -> None:
        self.expected = expected
        self.stored = stored
        super().__init__(
            f"delta applies to configuration version {expected}, "
            f"but version {stored if stored is not None else 'none'} is stored"
        )


class ConfigStore:
    """Writes flat configs into the LMDB environment at `path` (a directory)."""

    def __init__(self, path: str, map_size: int) -> None:
        self.path = path
        self.map_size = map_size
        self._env = _open_env(path, map_size)
        self._meta = self._env.open_db(b"meta")
        self._entities = self._env.open_db(b"entities")
        self._refs = self._env.open_db(REFS_DB)
        self._unique = self._env.open_db(UNIQUE_DB)
        self._check_format()

    def current(self) -> tuple[int, str] | None:
        """(version, hash) of the committed config, or None when none is stored."""
        with self._env.begin() as txn:
            version = txn.get(b"version", db=self._meta)
            config_hash = txn.get(b"hash", db=self._meta)
        if version is None or config_hash is None:
            return None
        return int(version), config_hash.decode()

    def apply(
        self,
        flat_config: Mapping[str, Sequence[Mapping[str, Any]]],
        config_hash: str,
        hashes: Mapping[str, str],
        version: int | None = None,
    ) -> int:
        """Replaces the stored config in one write transaction; returns the stored version:
        `version` when given (a control plane's), else the previous one plus one."""
        records = _encode(flat_config)
        refs, unique = index_records(flat_config)

        def write(txn: lmdb.Transaction[bytes]) -> int:
            stored = version
            if stored is None:
                previous = txn.get(b"version", db=self._meta)
                stored = int(previous) + 1 if previous is not None else 1
            for db, items in ((self._entities, records), (self._refs, refs), (self._unique, unique)):
                txn.drop(db, delete=False)
                with txn.cursor(db=db) as cursor:
                    cursor.putmulti(items, append=True)
            txn.delete(DELTA_KEY, db=self._meta)  # every entity may have changed
            self._put_meta(txn, stored, config_hash, hashes)
            return stored

        return self._write(write, records)

    def apply_delta(
        self,
        from_version: int,
        to_version: int,
        upserts: Mapping[str, Sequence[Mapping[str, Any]]],
        deletes: Mapping[str, Sequence[str]],
        config_hash: str,
        hashes: Mapping[str, str],
        check: Callable[[StoredEntities], None] | None = None,
    ) -> int:
        """Applies a control plane's delta in one write transaction; returns `to_version`.

        Raises StaleBaseError, writing nothing, unless the stored version is `from_version`:
        a delta only means something on top of the config it was computed from. `check` runs
        in that transaction before anything is written, against the stored config the delta
        applies to; whatever it raises aborts the transaction."""
        records = _encode(upserts)
        # The last of two upserts of one id wins, as in `records`.
        upserted = {entity_key(t, str(e["id"])): (t, e) for t, entities in upserts.items() for e in entities}

        def write(txn: lmdb.Transaction[bytes]) -> int:
            stored = txn.get(b"version", db=self._meta)
            if stored is None or int(stored) != from_version:
                raise StaleBaseError(from_version, None if stored is None else int(stored))
            view = StoredEntities(txn, self._entities, self._refs, self._unique)
            if check is not None:
                check(view)
            deleted = [entity_key(t, str(i)) for t, ids in deletes.items() for i in ids]
            for entity_type, entity_ids in deletes.items():
                for entity_id in entity_ids:
                    view.delete(entity_type, str(entity_id))
            for key, value in records:
                view.put(*upserted[key], value)
            txn.put(
                DELTA_KEY,
                _delta_record(from_version, txn.get(b"hash", db=self._meta), deleted + [key for key, _ in records]),
                db=self._meta,
            )
            self._put_meta(txn, to_version, config_hash, hashes)
            return to_version

        return self._write(write, records)

    def load(self) -> tuple[int, str, dict[str, list[dict]]] | None:
        """(version, hash, flat config) of the committed config from one read transaction, or
        None when none is stored; entity types come in key order, entities in id order."""
        flat: dict[str, list[dict]] = {}
        with self._env.begin() as txn:
            version = txn.get(b"version", db=self._meta)
            config_hash = txn.get(b"hash", db=self._meta)
            if version is None or config_hash is None:
                return None
            with txn.cursor(db=self._entities) as cursor:
                for key, value in cursor:
                    entity_type = bytes(key).split(b"|", 1)[0].decode()
                    flat.setdefault(entity_type, []).append(orjson.loads(value))
        return int(version), config_hash.decode(), flat

    def entities(self, entity_type: str) -> list[dict]:
        """The stored entities of one type, in id order (a cursor over that type's keys only)."""
        prefix = entity_type.encode() + b"|"
        found: list[dict] = []
        with self._env.begin() as txn, txn.cursor(db=self._entities) as cursor:
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not bytes(key).startswith(prefix):
                        break
                    found.append(orjson.loads(value))
        return found

    @contextlib.contextmanager
    def reading(self) -> Iterator[StoredEntities]:
        """The committed config from one read transaction, for lookups while the block runs
        (a DB-less node's Admin API); never held across an await."""
        with self._env.begin() as txn:
            yield StoredEntities(txn, self._entities, self._refs, self._unique)

    def _put_meta(
        self, txn: lmdb.Transaction[bytes], version: int, config_hash: str, hashes: Mapping[str, str]
    ) -> None:
        txn.put(b"format", FORMAT, db=self._meta)
        txn.put(b"version", str(version).encode(), db=self._meta)
        txn.put(b"hash", config_hash.encode(), db=self._meta)
        txn.put(b"hashes", orjson.dumps(dict(hashes)), db=self._meta)

    def _write(self, write: Callable[[lmdb.Transaction[bytes]], int], records: list[tuple[bytes, bytes]]) -> int:
        # Slots of killed workers would otherwise pin the pages of the configs they were reading.
        self._env.reader_check()
        try:
            with self._env.begin(write=True) as txn:
                return write(txn)
        except lmdb.MapFullError as err:
            size = sum(len(key) + len(value) for key, value in records)
            raise StoreFullError(
                f'configuration does not fit in LMDB database, consider raising "lmdb_map_size" '
                f"(now {_mib(self.map_size)}; this config holds {len(records)} entities, "
                f"{_mib(size)} of keys and JSON, and LMDB keeps the previous config until the new "
                f"one commits); the previous config is still in use"
            ) from err

    def close(self) -> None:
        self._env.close()

    def _check_format(self) -> None:
        """Wipes a cache written in another format, in one transaction readers see whole."""
        with self._env.begin(write=True) as txn:
            found = txn.get(b"format", db=self._meta)
            if found == FORMAT:
                return
            if found is not None or any(txn.stat(db)["entries"] for db in (self._meta, self._entities)):
                log.warning(
                    "LMDB cache %s has format %r, expected %r: wiping it",
                    self.path,
                    found.decode(errors="replace") if found is not None else None,
                    FORMAT.decode(),
                )
                for db in (self._meta, self._entities, self._refs, self._unique):
                    txn.drop(db, delete=False)
            txn.put(b"format", FORMAT, db=self._meta)


def _open_env(path: str, map_size: int) -> lmdb.Environment:
    def open_env() -> lmdb.Environment:
        return lmdb.open(
            path, map_size=map_size, max_dbs=MAX_DBS, max_readers=MAX_READERS, subdir=True, lib_version=LMDB_MAJOR
        )

    try:
        return open_env()
    except (lmdb.InvalidError, lmdb.VersionMismatchError, lmdb.CorruptedError) as err:
        # Files from another LMDB version or damaged beyond use: only a fresh env can serve.
        log.warning("LMDB cache %s cannot be opened (%s): recreating it", path, err)
        for name in ("data.mdb", "lock.mdb"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, name))
        return open_env()


def _encode(flat_config: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[tuple[bytes, bytes]]:
    """`<type>|<id>` -> JSON, sorted so LMDB can append instead of searching."""
    records: dict[bytes, bytes] = {}
    for entity_type, entities in flat_config.items():
        prefix = entity_type.encode() + b"|"
        for entity in entities:
            entity_id = entity.get("id")
            if not entity_id:
                raise ValueError(f"{entity_type}: entity without an id")
            records[prefix + str(entity_id).encode()] = orjson.dumps(entity)
    return sorted(records.items())


def _delta_record(from_version: int, from_hash: bytes | None, keys: list[bytes]) -> bytes:
    """`{"from_version", "from_hash", "keys"}`: keys sorted and unique, as `<type>|<id>`."""
    return orjson.dumps(
        {
            "from_version": from_version,
            "from_hash": (from_hash or b"").decode(),
            "keys": [key.decode() for key in sorted(set(keys))],
        }
    )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
