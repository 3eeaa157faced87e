"""The LMDB config cache: the supervisor writes it, workers read it through `dataplane._core.Store`."""

from dataplane.store.lmdb_writer import ConfigStore, StaleBaseError, StoreFullError

__all__ = ["ConfigStore", "StaleBaseError", "StoreFullError"]
