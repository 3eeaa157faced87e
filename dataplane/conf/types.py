"""Value coercion for kong.conf values: each parser takes the trimmed string and returns a
typed value or raises ``ValueError`` with a message that completes ``<key>: ``."""

import math
import re
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Number = TypeVar("Number", int, float)
Parser = Callable[[str], T]

_INTEGER = re.compile(r"[+-]?\d+")
_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_SIZE_SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def boolean(value: str) -> bool:
    # Kong turns anything but on/true into false; a typo failing loudly is kinder.
    if value in ("on", "true"):
        return True
    if value in ("off", "false"):
        return False
    raise ValueError(f"invalid boolean '{value}' (on, off, true, false)")


def _check_range(value: Number, minimum: float | None, maximum: float | None) -> Number:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be {minimum} or greater, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be {maximum} or less, got {value}")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser[int]:
    def parse(value: str) -> int:
        if not _INTEGER.fullmatch(value):
            raise ValueError(f"is not an integer: '{value}'")
        return _check_range(int(value), minimum, maximum)

    return parse


def number(minimum: float | None = None) -> Parser[float]:
    def parse(value: str) -> float:
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"is not a number: '{value}'") from None
        if not math.isfinite(result):
            raise ValueError(f"is not a number: '{value}'")
        return _check_range(result, minimum, None)

    return parse


def parse_size(value: str) -> int:
    """An nginx size: bytes, or a number with a k/m/g suffix (either case, powers of 1024)."""
    match = _SIZE.fullmatch(value)
    if not match:
        raise ValueError(f"invalid size '{value}' (bytes, or a number followed by k, m or g)")
    return int(match.group(1)) * _SIZE_SCALE[match.group(2).lower()]


def size(minimum: int = 0) -> Parser[int]:
    def parse(value: str) -> int:
        return _check_range(parse_size(value), minimum, None)

    return parse


def enum(*choices: str) -> Parser[str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"invalid value '{value}' ({', '.join(choices)})")
        return value

    return parse


def string(value: str) -> str:
    return value


def split_list(value: str) -> list[str]:
    """Kong's array rule: comma-separated, each item trimmed, empty items dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def string_list(value: str) -> tuple[str, ...]:
    return tuple(split_list(value))


def optional(parser: Parser[T]) -> Parser[T | None]:
    """An empty value means unset (Kong's ``NONE``)."""

    def parse(value: str) -> T | None:
        return None if value == "" else parser(value)

    return parse


def required(parser: Parser[T]) -> Parser[T]:
    def parse(value: str) -> T:
        if value == "":
            raise ValueError("must not be empty")
        return parser(value)

    return parse
