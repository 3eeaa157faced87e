"""The pure parts of the Admin API: Kong's error bodies and messages, page arguments and links."""
from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from controlplane.api import errors
from controlplane.api.pagination import next_link, page_args, page_body


def test_schema_violation_orders_entity_errors_then_fields():
    err = errors.schema_violation({"@entity": ["at least one of these fields must be non-empty: 'a'"],
                                   "paths": {1: "bad", 3: "worse"}, "config": {"minute": "expected a number"},
                                   "host": "required field missing"})
    assert err.status == 400
    assert err.body == {
        "code": 2, "name": "schema violation",
        "message": "5 schema violations (at least one of these fields must be non-empty: 'a'; "
                   "config.minute: expected a number; host: required field missing; "
                   "paths.1: bad; paths.3: worse)",
        "fields": {"@entity": ["at least one of these fields must be non-empty: 'a'"],
                   "paths": ["bad", None, "worse"], "config": {"minute": "expected a number"},
                   "host": "required field missing"}}


def test_unique_violation_on_several_fields():
    err = errors.unique_violation({"upstream": {"id": "u"}, "target": "a:1"})
    assert (err.status, err.body["message"]) == (
        409, "UNIQUE violation detected on '{target=\"a:1\",upstream={id=\"u\"}}'")


def test_invalid_options_lists_every_option():
    err = errors.invalid_options({"tags": "x", "size": "y"})
    assert err.body == {"code": 11, "name": "invalid options",
                        "message": "2 option violations (size: y; tags: x)",
                        "options": {"tags": "x", "size": "y"}}


def test_page_arguments():
    args = page_args(QueryParams("size=10&offset=abc&tags=a/b"))
    assert (args.size, args.offset, args.tags, args.tags_any) == (10, "abc", ["a", "b"], True)
    assert page_args(QueryParams("")).size == 100
    assert page_args(QueryParams("size=1e2")).size == 100  # Lua's tonumber
    assert page_args(QueryParams("tags=café,thé")).tags == ["café", "thé"]
    with pytest.raises(errors.ApiError) as caught:
        page_args(QueryParams("size=2.5"))
    assert caught.value.body["message"] == "size must be an integer between 1 and 1000"


def test_next_link_and_body():
    args = page_args(QueryParams("size=2&tags=a b"))
    assert next_link("/services", "x/y=", args) == "/services?offset=x%2Fy%3D&tags=a%20b&size=2"
    assert page_body([], None, None) == {"data": [], "next": None}
    assert page_body([{"id": 1}], "o", "/s?offset=o") == {"data": [{"id": 1}], "next": "/s?offset=o",
                                                          "offset": "o"}
