"""rate-limiting: requests counted per second, minute, hour, day, month and year, by
consumer, credential, client address, service, header or path, and refused past a limit
(Kong's kong/plugins/rate-limiting: its fields, defaults, messages, headers and keys).

Policies: ``local`` counts in the node's shared memory, so every worker of the node counts
together (Kong's shared dict); ``redis`` counts in a Redis server, so nodes count together,
on every request or batched every ``sync_rate`` seconds.
Kong's ``cluster`` counts in the database, which DB-less and hybrid data planes do not have:
the schema refuses it as Kong's does on such nodes.
"""

from .handler import Plugin
from .schema import Schema

priority = 910
version = "3.10.0"

__all__ = ["Plugin", "Schema", "priority", "version"]
