"""The plugin development kit: Kong's PDK names (``kong.request.get_header``,
``kong.response.exit``, ``kong.service.request.set_header``, ``kong.client.get_consumer``,
``kong.ctx.shared``, ``kong.log``...) as direct calls inside the worker, one implementation for
Gantry's own plugins and for plugins written for Kong's Python PDK.

One ``Kong`` object serves one request; its namespaces read the exchange and write their
changes to the request's plugin state (``dataplane.plugins.chain.RequestPlugins``), which the
proxy applies when it builds the upstream head and the client's head.
"""

from .errors import PDKError
from .kong import Kong
from .lua_style import LuaStyle

__all__ = ["Kong", "LuaStyle", "PDKError"]
