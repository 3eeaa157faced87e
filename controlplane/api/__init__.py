"""The Admin API: Kong's paths, verbs, bodies and errors over the PostgreSQL store.

app = create_app(ApiContext(conf, db, node_id))   # an ASGI application
"""

from .app import create_app
from .context import ApiContext

__all__ = ["ApiContext", "create_app"]
