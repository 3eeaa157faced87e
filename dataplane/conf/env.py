"""``KONG_<KEY>`` environment overrides."""

from collections.abc import Mapping

from .kong_keys import is_kong_key

PREFIX = "KONG_"


def env_name(key: str) -> str:
    return PREFIX + key.upper()


def env_values(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Kong keys set in ``env``, as ``{key: (value, variable name)}``.

    Only ``KONG_`` followed by the upper-cased key counts, as in Kong; other ``KONG_*``
    variables (Kong has several that are not settings) are left alone. Values are trimmed
    but, unlike file values, keep any ``#``.
    """
    found: dict[str, tuple[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(PREFIX):
            continue
        key = name[len(PREFIX) :].lower()
        if name == env_name(key) and is_kong_key(key):
            found[key] = (value.strip(), name)
    return found
