"""`dataplane run` for a traditional node: every reason not to start is one line and exit
status 1, never a traceback."""

from __future__ import annotations

import logging

import uvloop

from controlplane.database import StoreError
from dataplane.cluster import ClusterSettingsError
from dataplane.conf import Conf
from dataplane.config_source import ConfigRejected
from dataplane.lmdb_cache.lmdb_writer import StoreFullError
from dataplane.plugins import Registry

from .node import TraditionalNode

log = logging.getLogger("gantry")


def run_traditional(conf: Conf, conf_path: str | None, registry: Registry) -> int:
    try:
        return uvloop.run(TraditionalNode(conf, conf_path, registry).run())
    except StoreError as err:  # not bootstrapped, new migrations, a plugin in use not enabled
        log.error("cannot start: database %s: %s", conf.pg_database, err)
    except ConfigRejected as err:  # the LMDB cache was refused
        log.error("cannot start: %s", err)
    except (OSError, StoreFullError, ClusterSettingsError) as err:
        log.error("cannot start: %s", err)
    return 1
