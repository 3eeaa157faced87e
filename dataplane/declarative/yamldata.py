"""YAML text -> JSON-typed Python data, as PyYAML's safe loader followed by `plain` gives it.

libyaml (CSafeLoader) composes the node tree. Building Python data from it with PyYAML's
constructor costs a generator per collection and a second pass to turn YAML-only types into
JSON ones; `_build` does both in one walk for the nodes a kong.yml holds (maps with scalar
keys, sequences, scalars of the core tags). Any other node (merge keys, `=` keys, collection
keys, other tags, aliases of a node inside itself) sends the whole document through PyYAML's
own constructor, so the result and every error stay exactly PyYAML's.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # SafeLoader: PyYAML built without libyaml

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_CONSTRUCTORS = yaml.SafeLoader.yaml_constructors
# scalar tags built by PyYAML's own functions; `plain` applies to the YAML-only results
_SCALARS = {
    _TAG + t: (_CONSTRUCTORS[_TAG + t], t in ("binary", "timestamp"))
    for t in ("null", "bool", "int", "float", "binary", "timestamp")
}


class _Unusual(Exception):
    """A node `_build` leaves to PyYAML's constructor."""


def plain(value: Any) -> Any:
    """Only JSON types past this point: YAML timestamps, sets and binaries become text/lists."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=repr)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _key(k: Any) -> str:
    if isinstance(k, bool):
        return "true" if k else "false"
    return "null" if k is None else str(plain(k))


def _scalar(loader: Any, node: ScalarNode) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    try:
        construct, needs_plain = _SCALARS[tag]
    except KeyError:
        raise _Unusual from None
    value = construct(loader, node)
    return plain(value) if needs_plain else value


def _build(loader: Any, node: Any) -> Any:
    kind = node.__class__
    if kind is ScalarNode:
        return _scalar(loader, node)
    if kind is SequenceNode and node.tag == _SEQ:
        return [_build(loader, child) for child in node.value]
    if kind is not MappingNode or node.tag != _MAP:
        raise _Unusual
    out: dict[str, Any] = {}
    all_str = True
    for key_node, value_node in node.value:
        if key_node.__class__ is not ScalarNode:
            raise _Unusual
        if key_node.tag == _STR:
            key = key_node.value
        elif key_node.tag in _SCALARS:
            key = _scalar(loader, key_node)
            all_str = False
        else:  # merge (<<) and value (=) keys, other tags
            raise _Unusual
        out[key] = _build(loader, value_node)
    if all_str:
        return out
    # keys that are equal in Python (1, 1.0, true) merge before they become text, as they do
    # when PyYAML builds the dict first
    return {k if isinstance(k, str) else _key(k): v for k, v in out.items()}


def load_yaml(text: str | bytes) -> tuple[Any, bool]:
    """(data, done): JSON-typed data when `done`, else PyYAML's data still to pass to `plain`.

    Raises what PyYAML raises for the document.
    """
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, True
        try:
            return _build(loader, node), True
        except Exception:  # PyYAML's constructor decides, with its own errors
            return loader.construct_document(node), False
    finally:
        loader.dispose()
