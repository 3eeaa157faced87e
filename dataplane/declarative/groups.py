"""Consumer groups in a kong.yml, in the forms decK writes and Kong Enterprise exports:

    consumer_groups:                       consumers:
    - name: gold                           - username: alice
      tags: [tier]                           groups:
      plugins: [{name: rate-limiting}]       - name: gold
      consumers:
      - username: bob                      consumer_group_consumers:   # db_export's flat form
                                           - consumer_group: gold
                                             consumer: carol

`expand` turns decK's `consumer_groups[].consumers` and `consumers[].groups` into memberships
nested under their group or consumer (`consumer_group_consumers`, errors are reported there);
such a nested membership names its other side (a consumer by id or username, a group by id or
name), the one nested entity that may reference something besides its parent (`LINKS`). A
membership declared twice (from both sides) is one membership: `drop_repeated`.
"""

from __future__ import annotations

from typing import Any

from dataplane.schema.consumer_groups import GROUPS, MEMBERS

# nested entities that reference another entity besides their parent
LINKS = frozenset({MEMBERS})

_FLAT_CONFIG = dict[str, list[dict[str, Any]]]


def _reference(item: Any, keys: tuple[str, ...]) -> Any:
    """What a decK entry names: its id, else its name (as written, for the loader to
    resolve); anything that is not an entry is left for the loader to refuse."""
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return item
    for key in keys:
        if item.get(key) is not None:
            return item[key]
    return None


def _members(entries: Any, field: str, keys: tuple[str, ...]) -> Any:
    if not isinstance(entries, list):
        return entries  # the loader reports what is not a list
    out = []
    for item in entries:
        ref = _reference(item, keys)
        out.append({field: ref} if isinstance(item, (dict, str)) else item)
    return out


def _nest(owner: dict[str, Any], key: str, field: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if key not in owner:
        return owner
    owner = dict(owner)
    converted = _members(owner.pop(key), field, keys)
    given = owner.get(MEMBERS)
    if isinstance(given, list) and isinstance(converted, list):
        converted = [*given, *converted]
    elif given is not None:
        return {**owner, key: converted}  # two shapes that cannot be joined: let the loader say
    owner[MEMBERS] = converted
    return owner


_CONSUMER_KEYS = ("id", "username", "custom_id")


def _undeclared(groups: list[Any], consumers: Any) -> list[dict[str, Any]]:
    """The consumers decK's `consumer_groups[].consumers` define (as decK does, a consumer
    named there that the file does not declare elsewhere is declared by it)."""
    declared = consumers if isinstance(consumers, list) else []
    known = {(k, c[k]) for c in declared if isinstance(c, dict) for k in _CONSUMER_KEYS if c.get(k) is not None}
    out = []
    for g in groups:
        entries = g.get("consumers") if isinstance(g, dict) else None
        for item in entries if isinstance(entries, list) else ():
            if not isinstance(item, dict):
                continue
            keys = {(k, item[k]) for k in _CONSUMER_KEYS if item.get(k) is not None}
            if keys and not keys & known:
                out.append(dict(item))
                known |= keys
    return out


def expand(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with decK's group forms as nested memberships (a copy where anything changed)."""
    groups, consumers = doc.get(GROUPS), doc.get("consumers")
    if not isinstance(groups, list) and not isinstance(consumers, list):
        return doc
    doc = dict(doc)
    if isinstance(groups, list):
        extra = _undeclared(groups, consumers)
        if extra and (consumers is None or isinstance(consumers, list)):
            consumers = doc["consumers"] = [*(consumers if isinstance(consumers, list) else ()), *extra]
        doc[GROUPS] = [_nest(g, "consumers", "consumer", _CONSUMER_KEYS) if isinstance(g, dict) else g for g in groups]
    if isinstance(consumers, list):
        doc["consumers"] = [
            _nest(c, "groups", "consumer_group", ("id", "name")) if isinstance(c, dict) else c for c in consumers
        ]
    return doc


def drop_repeated(flat: _FLAT_CONFIG) -> None:
    """Keep the first of memberships with the same id (the same pair, declared twice)."""
    rows = flat.get(MEMBERS)
    if not rows:
        return
    seen: set[Any] = set()
    kept = []
    for row in rows:
        if row.get("id") not in seen:
            seen.add(row.get("id"))
            kept.append(row)
    flat[MEMBERS] = kept
