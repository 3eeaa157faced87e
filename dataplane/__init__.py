"""Gantry's data plane: proxies traffic with configuration from a declarative file or a control plane."""

__version__ = "0.1.0"
