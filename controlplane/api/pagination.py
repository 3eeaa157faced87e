"""Collection query arguments (`size`, `offset`, `tags`) and the page body, as Kong's
kong/api/endpoints.lua and kong/db/dao/init.lua check and build them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.datastructures import QueryParams

from . import errors

DEFAULT_SIZE = 100
MAX_SIZE = 1000
MAX_TAGS = 5

# printable ASCII except ',' and '/', plus any non-ASCII character
_TAG_CHAR = r"[\x20-\x2B\x2D\x2E\x30-\x7E\x80-\U0010FFFF]"
_TAGS_ALL = re.compile(rf"^(?:{_TAG_CHAR}+(?:,|$))+$")
_TAGS_ANY = re.compile(rf"^(?:{_TAG_CHAR}+(?:/|$))+$")
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


@dataclass(frozen=True)
class PageArgs:
    size: int
    offset: str | None
    tags: list[str] | None
    tags_any: bool
    raw_size: str | None  # as given, repeated in the `next` link
    raw_tags: str | None


def _first(query: QueryParams, name: str) -> str | None:
    values = query.getlist(name)
    return values[0] if values else None


def _size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_SIZE
    if not _NUMBER.match(raw):
        raise errors.invalid_size("size must be a number")
    size = float(raw)
    if not size.is_integer() or not 1 <= size <= MAX_SIZE:
        raise errors.invalid_size(f"size must be an integer between 1 and {MAX_SIZE}")
    return int(size)


def _tags(raw: str | None) -> tuple[list[str] | None, bool]:
    """`a,b` is every tag, `a/b` any of them; an empty filter is refused (kong/api/endpoints.lua
    extract_options), as is one whose escapes are not UTF-8 (Kong's filter syntax admits no
    such byte sequence)."""
    if raw is None:
        return None, False
    if raw == "":
        raise errors.invalid_options({"tags": "cannot be null"})
    if raw is _NOT_UTF8:
        raise errors.invalid_options({"tags": "invalid filter syntax"})
    if _TAGS_ALL.match(raw):
        tags, any_of = raw.split(","), False
    elif _TAGS_ANY.match(raw):
        tags, any_of = raw.split("/"), True
    else:
        raise errors.invalid_options({"tags": "invalid filter syntax"})
    tags = [t for t in tags if t]
    if len(tags) > MAX_TAGS:
        raise errors.invalid_options({"tags": f"cannot query more than {MAX_TAGS} tags"})
    return tags, any_of


_NOT_UTF8 = "\x00not utf-8"  # stands for a `tags` value whose bytes are not UTF-8


def _raw_tags(query_string: bytes) -> str | None:
    """The first `tags` value of a raw query string, `_NOT_UTF8` when its bytes are not UTF-8
    (the parsed query replaces them, which would filter by a tag nobody named)."""
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="latin-1"):
        if name == "tags":
            try:
                return value.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                return _NOT_UTF8
    return None


def page_args(query: QueryParams, query_string: bytes | None = None, *, with_tags: bool = True) -> PageArgs:
    """`query_string`: the raw query, to tell a `tags` value that is not UTF-8; `with_tags`
    False: a collection that has no tags filter (/tags) ignores the argument."""
    raw_size = _first(query, "size")
    raw_tags = None
    if with_tags:
        raw_tags = _first(query, "tags") if query_string is None else _raw_tags(query_string)
    size = _size(raw_size)
    tags, any_of = _tags(raw_tags)
    return PageArgs(size, _first(query, "offset"), tags, any_of, raw_size, raw_tags)


def page_body(rows: list[dict], offset: str | None, next_path: str | None) -> dict[str, Any]:
    """Kong's page: `data`, `next` (null on the last page) and `offset` when there is more."""
    body: dict[str, Any] = {"data": rows, "next": None}
    if offset is not None:
        body["offset"] = offset
        body["next"] = next_path
    return body


def next_link(path: str, offset: str, args: PageArgs | None = None) -> str:
    """`/services?offset=...`, with `tags` and `size` carried over on top-level collections."""
    link = f"{path}?offset={quote(offset, safe='')}"
    if args is not None:
        if args.raw_tags is not None:
            link += f"&tags={quote(args.raw_tags, safe='')}"
        if args.raw_size is not None:
            link += f"&size={quote(args.raw_size, safe='')}"
    return link
