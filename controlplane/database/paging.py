"""Opaque pagination offsets: the sort key of the last row of a page, base64url JSON."""

from __future__ import annotations

import base64
import binascii

import orjson

from dataplane.schema import is_uuid

from .errors import InvalidOffset


def encode(*key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def _invalid(offset: str, why: str) -> InvalidOffset:
    # kong/db/errors.lua invalid_offset, with the reasons its strategies give
    return InvalidOffset(f"'{offset}' is not a valid offset: {why}")


def decode(offset: str, arity: int) -> list[str]:
    """The key encoded in `offset`; its first element must be a uuid."""
    try:
        padded = offset + "=" * (-len(offset) % 4)
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise _invalid(offset, "bad base64 encoding") from None
    try:
        key = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid(offset, "bad json encoding") from None
    if (
        not isinstance(key, list)
        or len(key) != arity
        or not all(isinstance(k, str) for k in key)
        or not is_uuid(key[0])
    ):
        raise _invalid(offset, "bad json encoding")
    return key
