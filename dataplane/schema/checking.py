"""Schemas compiled into validation functions: Kong's `Schema:validate_field` and
`Schema:validate` with every decision that depends only on the schema taken once.

A `Field` compiles into a check, `check(value) -> None | error`, kept on the field. A record
(its fields plus entity checks) compiles into a `RecordPlan`. Nothing is compiled per value:
the element check of an array, a conditional check's overridden field and every message that
names only schema data are built here once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeGuard

from . import messages as M
from .checks import (
    AtLeastOneOf,
    Conditional,
    ConditionalAtLeastOneOf,
    Custom,
    Distinct,
    EntityRule,
    MutuallyRequired,
)
from .fields import MISSING, Field, Shorthand

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

Errors = dict[Any, Any]

# Integers without bounds of their own are still 64-bit signed: Lua's doubles hold more, but
# nothing past this survives the trip to the native core (i64) or to JSON (orjson)
INTEGER_RANGE = (-(2**63), 2**63 - 1)
Check = Callable[[Any], Any]  # value -> None, a message or nested errors
EntityCheck = Callable[[dict[str, Any], Errors], None]


def is_nonempty(value: Any) -> bool:
    return not (value is None or value is MISSING or value == "" or (isinstance(value, (list, dict)) and not value))


def is_uuid(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 36 and bool(_UUID_RE.match(value))


def field_check(field: Field) -> Check:
    """The compiled check of `field`, built on first use and kept on the (immutable) field."""
    check = field.__dict__.get("_check")
    if check is None:
        check = _compile(field)
        object.__setattr__(field, "_check", check)  # frozen dataclass: not a dataclass field
    return check


# ---------------------------------------------------------------- one field


def _compile(field: Field) -> Check:
    typed = _TYPES.get(field.type, _no_type_check)(field)
    # a foreign key is fully checked by its type check; a record's validators (a plugin config's
    # custom_validator) run once its fields are valid, as Kong's validate_field runs them
    validators = () if field.type == "foreign" else _validators(field)
    override = field.err
    when_null: str | None
    if field.ne is None:  # noqa: SIM108 - a conditional inside a conditional expression reads worse
        when_null = field.err or M.NE.format("null")
    else:
        when_null = M.REQUIRED if field.required else None
    if field.eq_null:
        set_error = field.err or M.EQ.format("null")

        def check_unset(value: Any) -> Any:
            return when_null if value is None or value is MISSING else set_error

        return check_unset

    def check(value: Any) -> Any:
        if value is None or value is MISSING:
            return when_null
        if typed is not None:
            err = typed(value)
            if err is not None:
                return err
        for validator in validators:
            err = validator(value)
            if err is not None:
                return override or err
        return None

    if field.unique or field.uuid:
        return check  # values expected to differ in every entity: nothing to remember
    if field.type in ("array", "set"):
        return _remembering_lists(check)
    kind = _SCALAR_KINDS.get(field.type)
    if kind is None or len(validators) <= _implicit_validators(field):
        return check
    return _remembering(check, kind)


# ---------------------------------------------------------------- valid values remembered

# A check is a pure function of the value, and a large config repeats the same protocols,
# ports, hosts and defaults in every entity: values found valid are remembered per field (up
# to a bound, so that unique values cannot grow it without limit). Only exact str/int values
# and lists of exact str are remembered, so that equal values of other types (1, 1.0, True)
# are still checked.
_REMEMBERED = 4096
_SCALAR_KINDS = {"string": str, "integer": int}


def _remembering(check: Check, kind: type) -> Check:
    valid: set[object] = set()

    def remembered(value: Any) -> Any:
        if value.__class__ is kind:
            if value in valid:
                return None
            err = check(value)
            if err is None and len(valid) < _REMEMBERED:
                valid.add(value)
            return err
        return check(value)

    return remembered


def _remembering_lists(check: Check) -> Check:
    valid: set[tuple[Any, ...]] = set()

    def remembered(value: Any) -> Any:
        if value.__class__ is not list:
            return check(value)
        key = tuple(value)
        try:
            if key in valid:
                return None
        except TypeError:  # an unhashable element: a record, a list
            return check(value)
        err = check(value)
        if err is None and len(valid) < _REMEMBERED and all(v.__class__ is str for v in key):
            valid.add(key)
        return err

    return remembered


def _no_type_check(field: Field) -> None:
    return None


def _integer(field: Field) -> Check:
    def typed(value: Any) -> Any:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not value.is_integer())
        ):
            return M.INTEGER
        return None

    return typed


def _number(field: Field) -> Check:
    def typed(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return M.NUMBER
        # JSON has no infinity or NaN (a form's "1e400" parses to one): nothing could store it
        return None if value.__class__ is int or math.isfinite(value) else M.NUMBER

    return typed


def _string(field: Field) -> Check:
    def typed(value: Any) -> Any:
        return None if isinstance(value, str) else M.STRING

    return typed


def _boolean(field: Field) -> Check:
    def typed(value: Any) -> Any:
        return None if isinstance(value, bool) else M.BOOLEAN

    return typed


def _sub_check(field: Field, attr: str) -> Check:
    """The check of `field.<attr>` made required (array elements, map keys and values), or,
    where a schema leaves it out, one failing as the uncompiled lookup would."""
    sub = getattr(field, attr)
    if sub is not None:
        return field_check(sub(required=True))

    def undefined(value: Any) -> Any:
        raise TypeError(f"'NoneType' object is not callable ({attr} of a {field.type} field)")

    return undefined


def _sequence(field: Field) -> Check:
    wrong_type = M.ARRAY if field.type == "array" else M.SET
    element = _sub_check(field, "elements")

    def typed(value: Any) -> Any:
        if not isinstance(value, list):
            if value != {}:  # Lua cannot tell an empty object from an empty array
                return wrong_type
            value = []
        errs = {}
        for i, v in enumerate(value, start=1):
            err = element(v)
            if err is not None:
                errs[i] = err
        return errs or None

    return typed


def _map(field: Field) -> Check:
    key_check = _sub_check(field, "keys")
    value_check = _sub_check(field, "values")

    def typed(value: Any) -> Any:
        if not isinstance(value, dict):
            if value != []:
                return M.MAP
            value = {}
        for k, v in value.items():
            err = key_check(k)
            if err is None:
                err = value_check(v)
            if err is not None:
                return err
        return None

    return typed


def _record(field: Field) -> Check:
    plan = None if field.fields is None else RecordPlan(field.fields, field.entity_checks, (), field.shorthands)

    def typed(value: Any) -> Any:
        if not isinstance(value, dict):
            if value != []:
                return M.RECORD
            value = {}
        return None if plan is None else plan.validate(value)

    return typed


def _foreign(field: Field) -> Check:
    id_check = field_check(Field("string", uuid=True))

    def typed(value: Any) -> Any:
        if not isinstance(value, dict) or "id" not in value:
            return {"id": M.MISSING_PK}
        if value["id"] is None:  # Kong's validate_primary_key: a null key is a missing field
            return {"id": M.REQUIRED}
        err = id_check(value["id"])
        return {"id": err} if err else None

    return typed


_TYPES: dict[str, Callable[[Field], Check | None]] = {
    "integer": _integer,
    "number": _number,
    "string": _string,
    "boolean": _boolean,
    "array": _sequence,
    "set": _sequence,
    "map": _map,
    "record": _record,
    "foreign": _foreign,
}


def _validators(field: Field) -> tuple[Check, ...]:
    """Kong's validators that `field` sets, in Kong's order (the first failure wins)."""
    out: list[Check] = []
    if field.ne is not MISSING:
        ne = field.ne

        def not_equal(value: Any) -> Any:
            if value == ne:
                return M.NE.format(str(value).lower() if isinstance(value, bool) else value)
            return None

        out.append(not_equal)
    if field.not_one_of is not None:
        out.append(_member(field.not_one_of, True, M.NOT_ONE_OF.format(", ".join(map(str, field.not_one_of)))))
    if field.one_of is not None:
        out.append(_member(field.one_of, False, M.ONE_OF.format(", ".join(map(str, field.one_of)))))
    if field.timestamp:
        out.append(lambda value: None if value > 0 else M.TIMESTAMP)
    if field.uuid:
        out.append(lambda value: None if is_uuid(value) else M.UUID)
    between_bounds = field.between
    if between_bounds is None and field.type == "integer":
        between_bounds = INTEGER_RANGE  # what the store and the native core can hold
    if between_bounds is not None:
        lo, hi = between_bounds
        between = M.BETWEEN.format(M.fmt_number(lo), M.fmt_number(hi))
        out.append(lambda value: between if value < lo or value > hi else None)
    if field.len_eq is not None:
        out.append(_length(lambda length, n: length != n, field.len_eq, M.LEN_EQ))
    len_min = field.len_min
    if len_min is None and field.type == "string":
        len_min = 1  # Kong rejects empty strings unless a schema says otherwise
    if len_min is not None:
        out.append(_length(lambda length, n: length < n, len_min, M.LEN_MIN))
    if field.len_max is not None:
        out.append(_length(lambda length, n: length > n, field.len_max, M.LEN_MAX))
    if field.starts_with is not None:
        prefix, starts = field.starts_with, M.STARTS_WITH.format(field.starts_with)
        out.append(lambda value: None if value.startswith(prefix) else starts)
    out.extend(_search(p, True, msg) for p, msg in field.match_none)
    if field.match is not None:
        match = re.compile(field.match).search
        out.append(lambda value: None if match(value) else M.MATCH.format(value))
    out.extend(_search(p, False, msg) for p, msg in field.match_all)
    if field.match_any is not None:
        searches, any_msg = [re.compile(p).search for p in field.match_any[0]], field.match_any[1]
        out.append(lambda value: None if any(s(value) for s in searches) else any_msg)
    if field.contains is not None:
        needle, contains = field.contains, M.CONTAINS.format(field.contains)
        out.append(lambda value: None if needle in value else contains)
    if field.custom_validator is not None:
        out.append(field.custom_validator)
    if field.mutually_exclusive_subsets is not None:
        out.append(_exclusive_subsets(field.mutually_exclusive_subsets))
    return tuple(out)


def _implicit_validators(field: Field) -> int:
    """How many of `_validators(field)` no schema asked for (a string's len_min, an integer's
    64-bit range): a check with only those has nothing worth remembering."""
    if field.type == "string":
        return 1
    return int(field.type == "integer" and field.between is None)


def _member(values: tuple[Any, ...], fail_when_in: bool, msg: str) -> Check:
    if fail_when_in:
        return lambda value: msg if value in values else None
    return lambda value: None if value in values else msg


def _length(fails: Callable[[int, int], bool], n: int, template: str) -> Check:
    msg = template.format(n)
    return lambda value: msg if fails(len(value), n) else None


def _search(pattern: str, fail_when_found: bool, msg: str) -> Check:
    search = re.compile(pattern).search
    if fail_when_found:
        return lambda value: msg if search(value) else None
    return lambda value: None if search(value) else msg


def _exclusive_subsets(subsets: tuple[tuple[str, ...], ...]) -> Check:
    def exclusive(value: Any) -> Any:
        member_of: list[list[str]] = []
        for v in value:
            for subset in subsets:
                if v in subset and list(subset) not in member_of:
                    member_of.append(list(subset))
        if len(member_of) > 1:
            return M.MUTUALLY_EXCLUSIVE_SETS.format(M.quoted_list(member_of))
        return None

    return exclusive


# ---------------------------------------------------------------- records


class RecordPlan:
    """A record's fields and entity checks, compiled: `validate(data)` is Kong's validation of
    a record whose defaults are already filled."""

    __slots__ = ("checks", "required", "entity_checks", "shorthands")

    def __init__(
        self,
        fields: tuple[tuple[str, Field], ...],
        entity_checks: tuple[EntityRule, ...],
        primary_key: tuple[str, ...] = (),
        shorthands: tuple[Shorthand, ...] = (),
    ) -> None:
        fmap = dict(fields)
        # a shorthand still here after filling is one filling refused to expand
        self.shorthands = {sh.name: sh for sh in shorthands}
        self.checks: dict[str, Check] = {name: field_check(f) for name, f in fmap.items()}
        # an entity's primary key is generated when absent, but can never be null (Kong's
        # validate_primary_key; its database refuses the row)
        self.required = tuple(name for name, f in fields if f.required or name in primary_key)
        self.entity_checks = tuple(_entity_check(c, fmap) for c in entity_checks)

    def validate(self, data: dict[str, Any]) -> Errors | None:
        errors: Errors = {}
        checks = self.checks
        for k, v in data.items():
            check = checks.get(k)  # only str keys are fields: any other key is unknown
            if check is None:
                shorthand = self.shorthands.get(k)
                errors[k] = (shorthand_problem(shorthand, data) if shorthand else None) or M.UNKNOWN
                continue
            err = check(v)
            if err is not None:
                errors[k] = err
        for name in self.required:
            if data.get(name) is None:
                errors[name] = M.REQUIRED
        for entity_check in self.entity_checks:
            entity_check(data, errors)
        return errors or None


def shorthand_problem(shorthand: Shorthand, data: dict[str, Any]) -> Any:
    """Why a record's shorthand key cannot be expanded (Kong's checks in process_auto_fields):
    its value fails the shorthand's own field, or a field it stands for is set to another
    value. None when it can."""
    value = data.get(shorthand.name)
    err = field_check(shorthand.field)(value)
    if err is not None or value is None:
        return err
    for path, new in _leaves(shorthand.expand(value) or {}, ()):
        given: Any = data
        for step in path:
            given = given.get(step) if isinstance(given, dict) else None
        if given is not None and given != new:
            return M.SHORTHAND_MISMATCH.format(
                shorthand.name, M.lua_tostring(value), ".".join(path), M.lua_tostring(given)
            )
    return None


def _leaves(tree: dict[str, Any], at: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _leaves(value, (*at, key))
        else:
            out.append(((*at, key), value))
    return out


def _entity_error(errors: Errors, msg: str) -> None:
    errors.setdefault("@entity", []).append(msg)


def _overridden(fields: dict[str, Field], name: str, overrides: dict[str, Any]) -> Check:
    """The check of field `name` with a conditional's overrides applied (Kong's metatable
    fallback), built once. A check naming no field of the record fails when it runs, as it
    always has."""
    if name not in fields:
        return lambda value: fields[name]
    return field_check(fields[name](**overrides))


def _entity_check(check: EntityRule, fields: dict[str, Field]) -> EntityCheck:
    if isinstance(check, (AtLeastOneOf, MutuallyRequired, Distinct)):
        return _field_set_check(check)
    if isinstance(check, Conditional):
        return _conditional(check, fields)
    if isinstance(check, ConditionalAtLeastOneOf):
        return _conditional_at_least_one_of(check, fields)
    if isinstance(check, Custom):
        return _custom(check)
    raise TypeError(f"unknown entity check {check!r}")  # a schema definition bug


def _field_set_check(check: AtLeastOneOf | MutuallyRequired | Distinct) -> EntityCheck:
    names = check.fields
    listed = M.quoted_list(list(names))
    if isinstance(check, AtLeastOneOf):
        msg = M.AT_LEAST_ONE_OF.format(listed)

        def at_least_one_of(entity: dict[str, Any], errors: Errors) -> None:
            if not any(is_nonempty(entity.get(n)) for n in names):
                _entity_error(errors, msg)

        return at_least_one_of
    if isinstance(check, MutuallyRequired):
        msg = M.MUTUALLY_REQUIRED.format(listed)

        def mutually_required(entity: dict[str, Any], errors: Errors) -> None:
            if sum(is_nonempty(entity.get(f)) for f in names) not in (0, len(names)):
                _entity_error(errors, msg)

        return mutually_required
    msg = M.DISTINCT.format(listed)

    def distinct(entity: dict[str, Any], errors: Errors) -> None:
        seen = [entity.get(f) for f in names if is_nonempty(entity.get(f))]
        if len(seen) != len({repr(v) for v in seen}):
            _entity_error(errors, msg)

    return distinct


def _conditional(check: Conditional, fields: dict[str, Field]) -> EntityCheck:
    if_field, then_field = check.if_field, check.then_field
    if_check = _overridden(fields, if_field, check.if_match)
    then_required = bool(check.then_match.get("required"))
    failed = M.CONDITIONAL.format(if_field)
    then_err = check.then_err or failed
    then_check = _overridden(fields, then_field, check.then_match)

    def conditional(entity: dict[str, Any], errors: Errors) -> None:
        if_value = entity.get(if_field)
        if if_value is None or if_check(if_value):
            return
        then_value = entity.get(then_field)
        if then_required and then_value is None:
            errors[then_field] = M.REQUIRED
            _entity_error(errors, failed)
            return
        err = then_check(then_value)
        if err is not None:
            errors[then_field] = err
            _entity_error(errors, then_err)

    return conditional


def _conditional_at_least_one_of(check: ConditionalAtLeastOneOf, fields: dict[str, Field]) -> EntityCheck:
    if_field = check.if_field
    if_check = _overridden(fields, if_field, check.if_match)
    else_check = None if check.else_match is None else _overridden(fields, if_field, check.else_match)

    def message(err: str | None, names: tuple[str, ...]) -> str:
        listed = M.quoted_list(list(names))
        return err.format(listed) if err else M.AT_LEAST_ONE_OF.format(listed)

    then_names, then_msg = check.then_at_least_one_of, message(check.then_err, check.then_at_least_one_of)
    else_names = check.else_then_at_least_one_of
    else_msg = message(check.else_then_err, else_names)

    def conditional_at_least_one_of(entity: dict[str, Any], errors: Errors) -> None:
        if_value = entity.get(if_field)
        if if_value is None:
            return
        if if_check(if_value) is None:
            names, msg = then_names, then_msg
        elif else_check is not None and else_check(if_value) is None:
            names, msg = else_names, else_msg
        else:
            return
        if not any(is_nonempty(entity.get(n)) for n in names):
            _entity_error(errors, msg)

    return conditional_at_least_one_of


def _custom(check: Custom) -> EntityCheck:
    sources, fn = check.field_sources, check.fn

    def custom(entity: dict[str, Any], errors: Errors) -> None:
        if any(errors.get(f) for f in sources):
            return
        msg = fn({f: entity.get(f) for f in sources})
        if msg is not None:
            _entity_error(errors, msg)

    return custom
