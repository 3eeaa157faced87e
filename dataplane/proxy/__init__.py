"""The proxy core: downstream HTTP/1.x server, Kong's phases, upstream pool, forwarding rules.

The worker builds a ``Runtime`` per config version, keeps it in ``ProxyState.runtime``, serves
``make_protocol_factory(state)`` on its listeners and awaits ``state.drain(timeout)`` to stop.
"""

from .runtime import Runtime, ServiceTarget
from .server import ProxyProtocol, make_protocol_factory
from .settings import ProxySettings
from .state import ACCEPTED_CONNECTIONS, ACTIVE_CONNECTIONS, TOTAL_REQUESTS, ProxyState

__all__ = [
    "ACCEPTED_CONNECTIONS",
    "ACTIVE_CONNECTIONS",
    "TOTAL_REQUESTS",
    "ProxyProtocol",
    "ProxySettings",
    "ProxyState",
    "Runtime",
    "ServiceTarget",
    "make_protocol_factory",
]
