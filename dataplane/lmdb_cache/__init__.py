"""The LMDB config cache: the supervisor writes it, workers read it through `dataplane._core.Store`."""

from dataplane.lmdb_cache.lmdb_writer import ConfigStore, StaleBaseError, StoreFullError

__all__ = ["ConfigStore", "StaleBaseError", "StoreFullError"]
