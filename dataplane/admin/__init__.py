"""The DB-less Admin API (database = off, admin_listen on, any role but data_plane): Kong's
read-only endpoints over the configuration the node serves, and `POST /config`. The control
plane's Admin API code (controlplane/api) runs here as it is, on a read-only store backed by
the node's LMDB cache; besides dataplane/traditional/, the one place where the data plane
imports the control plane, and only when this Admin API is on."""

from __future__ import annotations

from dataplane.conf import Conf


def serves_admin(conf: Conf) -> bool:
    """Whether a DB-less node serves the Admin API: a data plane has none (as in Kong), and
    `admin_listen = off` (or only ssl listeners, not served yet) turns it off."""
    return conf.role != "data_plane" and any(not listener.ssl for listener in conf.admin_listen)
