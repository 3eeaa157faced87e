"""request-transformer: the request changed before it goes upstream (Kong's
kong/plugins/request-transformer): its path (``replace.uri``), method, headers and query string,
each list applied in Kong's order remove, rename, replace, add, append. Values may be templates,
``$(headers.x)`` and the like (``_template`` says which Lua they may hold).

What Gantry does not do of Kong's:

- body transforms (``remove.body``... for JSON, form and multipart bodies): access runs once the
  head is read and Gantry does not rewrite a body it streams, so a config with any ``*.body``
  entry is refused when it is validated;
- with ``http_method`` GET, HEAD or TRACE Kong moves a form body's fields into the query string:
  Gantry does when the body came with the head (``kong.request.get_raw_body()``), else it logs a
  warning that it could not;
- header names go upstream in lower case (Kong sends the configured case);
- templates see the headers the client sent, not those an earlier plugin set, and are on
  whatever ``untrusted_lua`` says (Kong's ``off`` refuses them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from dataplane.schema import Field, typedefs as t, validators as v
from dataplane.schema.fields import Validator, record

from ._common import split_pair
from ._template import Headers, Lookup, Template, TemplateError

priority = 801
version = "3.10.0"

OPERATIONS = ("remove", "rename", "replace", "add", "append")
NO_BODY = (
    "Gantry does not transform streamed request bodies yet: {} must be empty "
    "(request-transformer changes the method, path, headers and query string)"
)
_FORM = "application/x-www-form-urlencoded"

Pair = tuple[str, Template | None]  # a config entry: its name, its value (None: it has none)


def _template_error(value: str) -> str | None:
    try:
        Template(value)
    except TemplateError as err:
        return f"value '{value}' is not in supported format, error:{err}"
    return None


def _with_value(entry: str) -> str | None:
    """Kong's check_for_value: ``name:value`` with a value, and a template that compiles."""
    name, value = split_pair(entry) or (entry, "")
    return f"key '{name}' has no value" if not value else _template_error(value)


def _header_entry(*, value_is_header: bool) -> Validator:
    def check(entry: str) -> str | None:
        name, value = split_pair(entry) or ("nil", "")
        if v.header_name(name) is not None:
            return f"'{name}' is not a valid header"
        if value_is_header:
            return None if v.header_name(value) is None else f"'{value}' is not a valid header"
        return _template_error(value) if value else None

    return check


def _strings(match: str | None = None, check: Validator | None = None) -> Field:
    return Field("array", required=True, default=[], elements=Field("string", match=match, custom_validator=check))


_PAIR = r"^[^:]+:.*$"
_remove = record(
    ("body", _strings()),
    ("headers", _strings(check=_header_entry(value_is_header=False))),
    ("querystring", _strings()),
    required=True,
)
_rename = record(
    ("body", _strings(check=_with_value)),
    ("headers", _strings(_PAIR, _header_entry(value_is_header=True))),
    ("querystring", _strings(check=_with_value)),
    required=True,
)
_values = (
    ("body", _strings(check=_with_value)),
    ("headers", _strings(_PAIR, _header_entry(value_is_header=False))),
    ("querystring", _strings(check=_with_value)),
)


def _no_body_transforms(config: dict[str, Any]) -> str | None:
    used = [f"{op}.body" for op in OPERATIONS if (config.get(op) or {}).get("body")]
    return NO_BODY.format(", ".join(used)) if used else None


Schema = record(
    ("http_method", t.http_method),
    ("remove", _remove),
    ("rename", _rename),
    ("replace", record(*_values, ("uri", Field("string", custom_validator=_template_error)), required=True)),
    ("add", record(*_values, required=True)),
    ("append", record(*_values, required=True)),
    required=True,
    custom_validator=_no_body_transforms,
)


def _pairs(entries: list[str] | None) -> list[Pair]:
    out: list[Pair] = []
    for entry in entries or ():
        name, value = split_pair(entry) or (entry, "")
        out.append((name, Template(value) if value else None))
    return out


def appended(current: Any, value: str) -> list[Any]:
    """Kong's append_value: a value joins the ones already there."""
    if isinstance(current, list):
        return [*current, value]
    return [current, value] if isinstance(current, str) else [value]


class _Lookup:
    """The template tables of one request, each read from the PDK when first used."""

    __slots__ = ("kong", "tables")

    def __init__(self, kong: Any) -> None:
        self.kong = kong
        self.tables: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name not in self.tables:
            request = self.kong.request
            if name == "headers":
                self.tables[name] = Headers(request.get_headers())
            elif name == "query_params":
                self.tables[name] = request.get_query()
            elif name == "uri_captures":
                captures = request.get_uri_captures()
                self.tables[name] = {**dict(enumerate(captures["unnamed"])), **captures["named"]}
            else:  # shared: the other name a template can read
                self.tables[name] = self.kong.ctx.shared
        return self.tables[name]


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.method: str | None = config.get("http_method")
        lists = {op: config.get(op) or {} for op in OPERATIONS}
        self.headers = {op: _pairs(lists[op].get("headers")) for op in OPERATIONS}
        self.query = {op: _pairs(lists[op].get("querystring")) for op in OPERATIONS}
        uri = lists["replace"].get("uri")
        self.uri = Template(uri) if uri else None

    def access(self, kong: Any) -> None:
        lookup = _Lookup(kong)
        if self.uri is not None:
            kong.service.request.set_path(self.uri.render(lookup))
        form = self._method(kong)
        self._headers(kong, lookup)
        self._query(kong, lookup, form)

    def _method(self, kong: Any) -> list[tuple[str, str]]:
        """Set the method; for GET, HEAD and TRACE, the form body's fields (for the query)."""
        if not self.method:
            return []
        kong.service.request.set_method(self.method.upper())
        if (
            self.method not in ("GET", "HEAD", "TRACE")
            or _FORM not in (kong.request.get_header("content-type") or "").lower()
        ):
            return []
        body = kong.request.get_raw_body()
        if body is None:
            kong.log.warn("the form body is still streaming: its fields were not added to the query string")
            return []
        return parse_qsl(body.decode("latin-1"), keep_blank_values=True)

    def _headers(self, kong: Any, lookup: Lookup) -> None:
        ops = self.headers
        if not any(ops.values()):
            return
        current = {name: value for name, value in kong.request.get_headers().items() if name != "host"}
        changed: dict[str, None] = {}  # names to send as `current` has them, in order
        for name, _ in ops["remove"]:
            if current.pop(name.lower(), None) is not None:
                changed[name.lower()] = None
        for old, new in _rendered(ops["rename"], lookup):
            key, new_key = old.lower(), (new or "").lower()
            if new_key and key != new_key and key in current:
                current[new_key] = current.pop(key)
                changed.update({key: None, new_key: None})
        for name, value in _rendered(ops["replace"], lookup):
            key = name.lower()
            if value is not None and (key in current or key == "host"):
                current[key] = value
                changed[key] = None
        for name, value in _rendered(ops["add"], lookup):
            key = name.lower()
            if value is not None and key not in current and key != "host":
                current[key] = value
                changed[key] = None
        for name, value in _rendered(ops["append"], lookup):
            key = name.lower()
            if value is not None:
                current[key] = value if key == "host" else appended(current.get(key), value)
                changed[key] = None
        upstream = kong.service.request
        for key in changed:
            value = current.get(key)
            if isinstance(value, list):
                upstream.clear_header(key)
                for one in value:
                    upstream.add_header(key, one)
            elif value is None:
                upstream.clear_header(key)
            else:
                upstream.set_header(key, value)

    def _query(self, kong: Any, lookup: Lookup, form: list[tuple[str, str]]) -> None:
        ops = self.query
        if not form and not any(ops.values()):
            return
        query = {
            name: list(value) if isinstance(value, list) else value for name, value in lookup("query_params").items()
        }
        for name, sent in form:
            query[name] = appended(query[name], sent) if name in query else sent
        for name, _ in ops["remove"]:
            query.pop(name, None)
        for old, new in _rendered(ops["rename"], lookup):
            if new is not None and old != new and old in query:
                query[new] = query.pop(old)
        for name, value in _rendered(ops["replace"], lookup):
            if value is not None and name in query:
                query[name] = value
        for name, value in _rendered(ops["add"], lookup):
            if value is not None and name not in query:
                query[name] = value
        for name, value in _rendered(ops["append"], lookup):
            if value is not None:
                query[name] = appended(query.get(name), value)
        kong.service.request.set_query(dict(sorted(query.items())))  # Kong encodes them sorted by name


def _rendered(pairs: list[Pair], lookup: Lookup) -> list[tuple[str, str | None]]:
    return [(name, None if value is None else value.render(lookup)) for name, value in pairs]
