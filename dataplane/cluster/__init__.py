"""The data plane's side of the control-plane link (hybrid mode): connect, receive, validate,
apply, report. Layout: settings (conf -> TLS channel), client (sessions and reconnects),
apply (validation and the LMDB write), backoff, node_id, link (status)."""

import os

# gRPC's own INFO lines (e.g. every GOAWAY) repeat what the client logs in its own words.
# Set before grpc is first imported, which is when gRPC reads it.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from .apply import ConfigApplier
from .client import ClusterClient
from .link import LinkStatus
from .node_id import load_or_create as load_or_create_node_id
from .settings import ClusterSettings, ClusterSettingsError

__all__ = [
    "ClusterClient",
    "ClusterSettings",
    "ClusterSettingsError",
    "ConfigApplier",
    "LinkStatus",
    "load_or_create_node_id",
]
