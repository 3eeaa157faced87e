"""kong.yml text -> Python data (YAML or JSON), with syntax errors as DeclarativeConfigError."""
from __future__ import annotations

import base64
import datetime
from typing import Any

import orjson
import yaml

from .errors import DeclarativeConfigError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _plain(value: Any) -> Any:
    """Only JSON types past this point: YAML timestamps, sets and binaries become text/lists."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _key(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    return "null" if k is None else str(_plain(k))


def _yaml_error(e: yaml.YAMLError, filename: str) -> DeclarativeConfigError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f"{filename}:{mark.line + 1}:{mark.column + 1}: " if mark is not None else f"{filename}: "
    return DeclarativeConfigError.parse_failure(where + problem)


def load(text: str | bytes, filename: str) -> dict:
    if filename.endswith(".json"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None  # YAML is a superset of JSON and reports line and column
        else:
            return _check_object(data)
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(e, filename) from None
    except (ValueError, TypeError, RecursionError) as e:  # e.g. bad timestamps, deep nesting
        raise DeclarativeConfigError.parse_failure(f"{filename}: {e}") from None
    return _check_object(_plain(data))


def _check_object(data: Any) -> dict:
    if not isinstance(data, dict):
        raise DeclarativeConfigError.parse_failure("expected an object")
    return data
