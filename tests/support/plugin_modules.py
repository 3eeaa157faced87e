"""A plugin module made from source text in a test, as a file's import would make it."""

from __future__ import annotations

import textwrap
from types import ModuleType


def module(name: str, source: str) -> ModuleType:
    made = ModuleType(name)
    exec(textwrap.dedent(source), made.__dict__)
    return made
