"""kong.conf loading: Kong's keys, syntax and ``KONG_*`` environment overrides."""

from .addresses import HostPort
from .errors import ConfError
from .listeners import Listener
from .loader import load_conf
from .model import Conf
from .trusted_ips import TrustedIps

__all__ = ["Conf", "ConfError", "HostPort", "Listener", "TrustedIps", "load_conf"]
