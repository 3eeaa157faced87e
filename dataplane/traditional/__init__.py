"""Traditional mode (role = traditional, database = postgres): every node reads PostgreSQL
and serves both the Admin API and the proxy. The one place where the data plane imports the
control plane: its store, schemas, Admin API and change-log reader, reused as they are."""

from .follower import DatabaseFollower
from .node import TraditionalNode

__all__ = ["DatabaseFollower", "TraditionalNode"]
