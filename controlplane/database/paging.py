"""Opaque pagination offsets: the sort key of the last row of a page, base64url JSON."""

from __future__ import annotations

import base64
import binascii

import orjson

from dataplane.schema import is_uuid

from .errors import InvalidOffset


def encode(*key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode(offset: str, arity: int) -> list[str]:
    """The key encoded in `offset`; its first element must be a uuid."""
    try:
        padded = offset + "=" * (-len(offset) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError):
        raise InvalidOffset(f"'{offset}' is not a valid offset") from None
    if (
        not isinstance(key, list)
        or len(key) != arity
        or not all(isinstance(k, str) for k in key)
        or not is_uuid(key[0])
    ):
        raise InvalidOffset(f"'{offset}' is not a valid offset")
    return key
