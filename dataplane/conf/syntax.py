"""Kong's kong.conf line syntax (Penlight's config reader plus Kong's comment stripping).

- blank lines and lines whose first non-blank character is ``#`` or ``;`` are skipped;
- a line ending in ``\\`` continues on the next kept line;
- ``key = value``: the key is what precedes the first ``=``, every character of it that is
  not a letter or digit becomes ``_``; keys keep their case, as in Kong;
- in the value, an unescaped ``#`` starts a comment; ``\\#`` stands for ``#``;
- surrounding whitespace is trimmed; quotes are kept.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

_COMMENT_LINE = re.compile(r"^\s*[;#]")
_CONTINUED = re.compile(r"\\\s*$")
_KEY_SEP = re.compile(r"\s*=\s*")
_NOT_WORD = re.compile(r"[^A-Za-z0-9]")
_TRAILING_COMMENT = re.compile(r"\s*(?<!\\)#.*$")


@dataclass(frozen=True, slots=True)
class Line:
    """One logical ``key = value`` line; ``number`` is the line where it starts."""

    key: str
    value: str
    number: int


@dataclass(frozen=True, slots=True)
class Ignored:
    """A kept line that assigns nothing (Kong silently drops these)."""

    text: str
    number: int


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or _COMMENT_LINE.match(raw):
            continue
        if not pending:
            start = number
        cont = _CONTINUED.search(raw)
        if cont:
            pending.append(raw[: cont.start()])
            continue
        pending.append(raw)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def strip_comment(value: str) -> str:
    """Drop a trailing ``# comment`` and unescape ``\\#``, as Kong does for file values."""
    return _TRAILING_COMMENT.sub("", value).replace("\\#", "#").strip()


def parse_text(text: str) -> tuple[list[Line], list[Ignored]]:
    """Split a kong.conf text into assignments and lines that assign nothing."""
    lines: list[Line] = []
    ignored: list[Ignored] = []
    for number, logical in _logical_lines(text):
        logical = logical.lstrip()
        sep = _KEY_SEP.search(logical)
        key = _NOT_WORD.sub("_", logical[: sep.start()]) if sep else ""
        if sep is None or not key:
            ignored.append(Ignored(logical.strip(), number))
            continue
        lines.append(Line(key, strip_comment(logical[sep.end() :]), number))
    return lines, ignored
