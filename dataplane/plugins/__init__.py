"""The plugin runtime: which plugins a node can run (``registry``), what applies to each route
of a config version (``plan``), and running their phases for one request (``chain``).

Plugins run in-process. Each has Kong's shape, whether bundled with Gantry or written for Kong's
Python PDK (``kong-pdk``): a ``Plugin`` class built with its config, whose phase methods
(``rewrite``, ``access``, ``header_filter``, ``log``) take the request's ``kong`` PDK object,
a ``priority`` (higher runs first), a ``version`` and a config schema.
"""

# ``chain`` (what runs for one request) is imported by the proxy where it needs it: it uses the
# PDK, which uses the proxy's error bodies, so importing it here would make a cycle.
from .plan import PluginPlans
from .registry import Registry, load_registry
from .spec import PHASES, PluginError, PluginSpec

__all__ = ["PHASES", "PluginError", "PluginPlans", "PluginSpec", "Registry", "load_registry"]
