"""kong.yml text -> Python data (YAML or JSON), with syntax errors as DeclarativeConfigError."""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from .errors import DeclarativeConfigError
from .yamldata import load_yaml, plain


def _yaml_error(e: yaml.YAMLError, filename: str) -> DeclarativeConfigError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    where = f"{filename}:{mark.line + 1}:{mark.column + 1}: " if mark is not None else f"{filename}: "
    return DeclarativeConfigError.parse_failure(where + problem)


def load(text: str | bytes, filename: str) -> dict[str, Any]:
    if filename.endswith(".json"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None  # YAML is a superset of JSON and reports line and column
        else:
            return _check_object(data)
    try:
        data, done = load_yaml(text)
    except yaml.YAMLError as e:
        raise _yaml_error(e, filename) from None
    except (ValueError, TypeError, RecursionError) as e:  # e.g. bad timestamps, deep nesting
        raise DeclarativeConfigError.parse_failure(f"{filename}: {e}") from None
    return _check_object(data if done else plain(data))


def _check_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DeclarativeConfigError.parse_failure("expected an object")
    return data
