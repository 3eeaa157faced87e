"""kong-pdk's default calling convention: every PDK call returns ``(value, error)`` instead of
raising (the plugin server's ``--no-lua-style`` turns it off)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import PDKError


class LuaStyle:
    """A view of a PDK object (or namespace) whose calls return ``(value, None)`` or
    ``(None, message)``; namespaces are wrapped in turn."""

    __slots__ = ("_target",)

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if callable(attr):
            return _lua_call(attr)
        return LuaStyle(attr)


def _lua_call(function: Callable[..., Any]) -> Callable[..., tuple[Any, str | None]]:
    def call(*args: Any, **kwargs: Any) -> tuple[Any, str | None]:
        try:
            return function(*args, **kwargs), None
        except PDKError as err:
            return None, str(err)

    return call
