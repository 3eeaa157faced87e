"""Kong's validation messages (kong/db/schema/init.lua), word for word: users grep for them."""

from collections.abc import Sequence

ARRAY = "expected an array"
SET = "expected a set"
MAP = "expected a map"
RECORD = "expected a record"
STRING = "expected a string"
NUMBER = "expected a number"
BOOLEAN = "expected a boolean"
INTEGER = "expected an integer"
EQ = "value must be {}"
NE = "value must not be {}"
GT = "value must be greater than {}"
BETWEEN = "value should be between {} and {}"
LEN_EQ = "length must be {}"
LEN_MIN = "length must be at least {}"
LEN_MAX = "length must be at most {}"
MATCH = "invalid value: {}"
STARTS_WITH = "should start with: {}"
CONTAINS = "expected to contain: {}"
ONE_OF = "expected one of: {}"
NOT_ONE_OF = "must not be one of: {}"
TIMESTAMP = "expected a valid timestamp"
UUID = "expected a valid UUID"
REQUIRED = "required field missing"
UNKNOWN = "unknown field"
MISSING_PK = "missing primary key"
REQUIRED_FOR_ENTITY_CHECK = "field required for entity check"
CONDITIONAL = "failed conditional validation given value of field '{}'"
AT_LEAST_ONE_OF = "at least one of these fields must be non-empty: {}"
DISTINCT = "values of these fields must be distinct: {}"
MUTUALLY_REQUIRED = "all or none of these fields must be set: {}"
MUTUALLY_EXCLUSIVE_SETS = "these sets are mutually exclusive: {}"
SUBSCHEMA_UNKNOWN = "unknown type: {}"
SHORTHAND_MISMATCH = "both deprecated and new field are used but their values mismatch: {} = {} vs {} = {}"


def quoted_list(words: Sequence[object]) -> str:
    """Kong's `quoted_list`: 'a', 'b' and nested lists as ('a', 'b')."""
    return ", ".join(f"({quoted_list(w)})" if isinstance(w, list) else f"'{w}'" for w in words)


def fmt_number(value: float | int) -> str:
    """Numbers as Lua's %d / tostring print them in messages."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lua_tostring(value: object) -> str:
    """A scalar as Lua's tostring writes it in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    return str(value)
