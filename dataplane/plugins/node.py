"""The plugins one node runs, from its conf: the one resolution every entry point uses (the
data plane's CLI, supervisor and workers, the control plane's CLI, Admin API and cluster
listener), so what a node accepts in its configuration is exactly what it can run."""

from __future__ import annotations

from dataplane.conf import Conf

from .kong_pdk import kong_pdk_specs
from .registry import Registry, load_registry


def node_registry(conf: Conf) -> Registry:
    """The plugins of the conf's ``plugins`` setting, kong-pdk ones found through
    ``pluginserver_*``. Raises PluginError naming a plugin that does not load."""
    return load_registry(conf.plugins, extra=kong_pdk_specs(conf))
