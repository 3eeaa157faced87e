"""Settings of the node that bundled plugins need and the PDK does not hand them (Kong's
plugins read them from ``kong.configuration``); each worker sets them once at its start."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeSettings:
    # lua_ssl_trusted_certificate and lua_ssl_verify_depth: how rate-limiting verifies a
    # Redis server's certificate (config.redis.ssl_verify), as Kong's cosockets do
    trusted_certificates: tuple[str, ...] = ("system",)
    verify_depth: int = 1


_settings = NodeSettings()


def configure(settings: NodeSettings) -> None:
    global _settings
    _settings = settings


def current() -> NodeSettings:
    return _settings
