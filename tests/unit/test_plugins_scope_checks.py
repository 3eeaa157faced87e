"""What scopes a plugin entity may have: Kong's no_consumer plugins (the ones that identify the
consumer) refuse a consumer and a consumer group, no config names both, and a group-scoped
config carries no dynamic ordering. Each would otherwise be stored and never chosen."""

from __future__ import annotations

import pytest

from dataplane.declarative import DeclarativeConfigError, parse_text
from dataplane.plugins.registry import load_registry

load_registry(["bundled"])  # registers the bundled plugins' schemas

HEAD = """
_format_version: "3.0"
consumers:
  - username: alice
consumer_groups:
  - name: gold
services:
  - name: s
    url: http://upstream.test
"""


def _errors(text: str) -> list[dict]:
    with pytest.raises(DeclarativeConfigError) as refused:
        parse_text(HEAD + text)
    return refused.value.flattened_errors[0]["errors"]


@pytest.mark.parametrize("scope", ["consumer: alice", "consumer_group: gold"])
def test_a_plugin_that_identifies_the_consumer_refuses_a_consumer_scope(scope):
    errors = _errors(f"plugins:\n  - name: key-auth\n    {scope}\n")
    assert {"type": "field", "field": scope.split(":")[0], "message": "value must be null"} in errors


def test_a_config_names_a_consumer_or_a_group_not_both():
    errors = _errors("plugins:\n  - name: request-termination\n    consumer: alice\n    consumer_group: gold\n")
    assert errors == [
        {"type": "entity", "message": "a plugin can be scoped to a consumer or to a consumer group, not both"}
    ]


def test_a_group_scoped_config_has_no_dynamic_ordering():
    errors = _errors(
        "plugins:\n  - name: request-termination\n    consumer_group: gold\n"
        "    ordering: {before: {access: [key-auth]}}\n"
    )
    assert errors == [
        {
            "type": "entity",
            "message": "a plugin scoped to a consumer group cannot set a dynamic ordering "
            "(it is decided before the consumer is known)",
        }
    ]


def test_a_group_scoped_config_is_accepted():
    flat = parse_text(HEAD + "plugins:\n  - name: request-termination\n    consumer_group: gold\n")
    (plugin,) = flat["plugins"]
    (group,) = flat["consumer_groups"]
    assert plugin["consumer_group"] == {"id": group["id"]}
