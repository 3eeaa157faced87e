"""Versioned schema migrations, applied in order and recorded in `schema_meta`.

A migration's `up` must be safe to run while older nodes still use the database; its optional
`teardown` (run by `migrations finish`) removes what those nodes needed, as in Kong.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    name: str
    up: str
    teardown: str | None = None


from .core import CORE  # noqa: E402  (core.py builds on Migration)

__all__ = ["CORE", "Migration"]
