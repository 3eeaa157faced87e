"""Header changes plugins ask for, applied to a head the gateway built.

A head is kept as bytes (built natively); a plugin's changes are recorded as operations and
applied once, to the finished head: that keeps heads with no plugin change untouched, and
makes one rule for the fields the client sent and the ones the gateway adds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import PDKError

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

SET, ADD, CLEAR = 0, 1, 2
Op = tuple[int, bytes, bytes]  # (kind, name as the plugin wrote it, value)


# Names plugins set are few and repeat on every request (X-Consumer-ID...): each is checked once
_NAMES: dict[str, bytes] = {}
_NAMES_KEPT = 1024  # a plugin naming headers from request data cannot grow it without bound


def field_name(name: object) -> bytes:
    """A header name as bytes, refused unless it is an RFC 9110 token."""
    if isinstance(name, str):
        known = _NAMES.get(name)
        if known is not None:
            return known
    raw = name.encode("latin-1") if isinstance(name, str) else name
    if not isinstance(raw, bytes) or not _TOKEN.fullmatch(raw):
        raise PDKError(f"invalid header name {name!r}")
    if isinstance(name, str) and len(_NAMES) < _NAMES_KEPT:
        _NAMES[name] = raw
    return raw


def field_value(value: object) -> bytes:
    """A header value as bytes (numbers and booleans as Kong writes them), refused when it holds
    CR, LF or another control byte: a plugin must not be able to split a head."""
    if type(value) is str:  # the usual case, checked without the conversions below
        text = value.encode("latin-1")
        if _CONTROL.search(text) is None:
            return text.strip(b" \t")
        raise PDKError(f"invalid header value {value!r}")
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (int, float)):
        value = str(value)
    raw = value.encode("latin-1") if isinstance(value, str) else value
    if not isinstance(raw, bytes) or not _VALUE.fullmatch(raw):
        raise PDKError(f"invalid header value {value!r}")
    return raw.strip(b" \t")


def apply(lines: list[bytes], ops: Iterable[Op]) -> list[bytes]:
    """``lines``: ``Name: value`` field lines without CRLF; returns them changed by ``ops``, in
    order: a set or clear drops every earlier field of that name (the head's and the ones ops
    added), a set or add appends one. The head's lines are read once, whatever the number of
    ops: an authentication plugin sets half a dozen fields on every request."""
    dropped: set[bytes] = set()  # names compare without case; the plugin's spelling is what is sent
    added: list[tuple[bytes, bytes]] = []
    for kind, name, value in ops:
        key = name.lower()
        if kind != ADD:
            dropped.add(key)
            if added:
                added = [item for item in added if item[0] != key]
        if kind != CLEAR:
            added.append((key, b"%s: %s" % (name, value)))
    if dropped:
        lines = [line for line in lines if line.partition(b":")[0].strip().lower() not in dropped]
    else:
        lines = list(lines)
    lines += (line for _, line in added)
    return lines


def split_head(head: bytes) -> tuple[bytes, list[bytes]]:
    """A head's start line and field lines (its final blank line dropped)."""
    start, _, rest = head.partition(b"\r\n")
    fields = rest[:-4].split(b"\r\n") if len(rest) > 4 else []
    return start, [line for line in fields if line]


def join_head(start: bytes, lines: list[bytes]) -> bytes:
    return b"\r\n".join([start, *lines]) + b"\r\n\r\n"


def field_values(lines: list[bytes], name: bytes) -> list[bytes]:
    """The values of the field ``name`` (lower-case) among ``lines``."""
    found = []
    for line in lines:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            found.append(value.strip(b" \t"))
    return found
