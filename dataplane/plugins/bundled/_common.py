"""Kong's conventions the bundled plugins read their configs by, kept apart from any one
plugin: ``name:value`` entries, and PCRE patterns compiled by Python's ``re``."""

from __future__ import annotations

import re

# PCRE's named group ``(?<name>...)`` is ``(?P<name>...)`` in Python; lookbehinds stay
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def split_pair(entry: str) -> tuple[str, str] | None:
    """Kong's ``^([^:]+):*(.-)$``: the name before the first colon, the value after every colon
    that follows it (``"h2:value:2"`` is ``("h2", "value:2")``); None when there is no name."""
    name, _, value = entry.partition(":")
    if not name:
        return None
    return name, value.lstrip(":")


def compile_pcre(pattern: str) -> re.Pattern[str]:
    """A PCRE pattern as Python compiles it; raises ``re.error`` when it is not one."""
    return re.compile(_NAMED_GROUP.sub("(?P<", pattern))
