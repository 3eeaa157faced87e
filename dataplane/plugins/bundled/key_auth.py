"""key-auth: a consumer identified by an API key in a header, the query string or the body
(Kong's kong/plugins/key-auth: its fields, defaults, messages and headers)."""

from __future__ import annotations

import time
from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

priority = 1250
version = "3.10.0"
no_consumer = True  # a credential identifies the consumer: the plugin is never scoped to one

NO_KEY = "No API key found in request"
DUPLICATE_KEY = "Duplicate API key found"
INVALID = "Unauthorized"  # Kong 3.6+ ("Invalid authentication credentials" before)

Schema = record(
    (
        "key_names",
        Field(
            "array",
            required=True,
            default=["apikey"],
            len_min=1,
            elements=Field(
                "string",
                match=r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$",
                err="bad header name '%s', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
            ),
        ),
    ),
    ("hide_credentials", Field("boolean", required=True, default=False)),
    ("anonymous", Field("string")),
    ("key_in_header", Field("boolean", required=True, default=True)),
    ("key_in_query", Field("boolean", required=True, default=True)),
    ("key_in_body", Field("boolean", required=True, default=False)),
    ("run_on_preflight", Field("boolean", required=True, default=True)),
    ("realm", Field("string")),
    required=True,
)


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.key_names = [name.lower() for name in config.get("key_names") or ["apikey"]]
        self.hide = bool(config.get("hide_credentials"))
        self.anonymous = config.get("anonymous")
        # where a key may be, in the order Kong looks: header, query, body
        self.sources = tuple(
            where
            for where, on in (
                ("header", config.get("key_in_header", True)),
                ("query", config.get("key_in_query", True)),
                ("body", config.get("key_in_body", False)),
            )
            if on
        )
        self.on_preflight = config.get("run_on_preflight", True)
        realm = config.get("realm")
        self.challenge = f'Key realm="{realm}"' if realm else "Key"

    def access(self, kong: Any) -> None:
        if not self.on_preflight and kong.request.get_method() == "OPTIONS":
            return
        if self.anonymous and kong.client.get_credential() is not None:
            return  # an earlier auth plugin identified the client ("logical OR")
        failure = self._authenticate(kong)
        if failure is None:
            return
        status, message = failure
        if self.anonymous:
            consumer = kong.client.load_consumer(self.anonymous, True)
            if consumer is None:
                kong.response.error(500, f"anonymous consumer {self.anonymous} is configured but doesn't exist")
                return
            _identify(kong, consumer, None, anonymous=True)
            return
        kong.response.error(status, message, {"WWW-Authenticate": self.challenge})

    def _authenticate(self, kong: Any) -> tuple[int, str] | None:
        """None once the client is identified, else the error it gets."""
        # each table read the first time a key name is looked up there: a key found in a header
        # never parses the query string or the body
        tables: dict[str, dict[str, Any]] = {}
        key = None
        for name in self.key_names:
            for where in self.sources:
                table = tables.get(where)
                if table is None:
                    table = tables[where] = self._table(kong, where)
                value = table.get(name)
                if value is None:
                    continue
                if isinstance(value, list):
                    return 401, DUPLICATE_KEY
                key = value
                if self.hide:
                    self._hide(kong, where, name, table)
                break
            if key is not None:
                break
        if not key or not isinstance(key, str):
            return 401, NO_KEY
        credential = kong.db.keyauth_credentials.select_by_key(key)
        if credential is None or _expired(credential):
            return 401, INVALID
        consumer_id = (credential.get("consumer") or {}).get("id")
        consumer = kong.client.load_consumer(consumer_id) if consumer_id else None
        if consumer is None:
            return 401, INVALID
        _identify(kong, consumer, credential, anonymous=False)
        return None

    def _table(self, kong: Any, where: str) -> Any:
        if where == "header":
            return _Headers(kong.request)
        if where == "query":
            return kong.request.get_query()
        return self._body(kong)

    def _body(self, kong: Any) -> dict[str, Any]:
        try:
            body = kong.request.get_body()
        except Exception:
            return {}
        return body if isinstance(body, dict) else {}

    def _hide(self, kong: Any, where: str, name: str, query: dict[str, Any]) -> None:
        if where == "header":
            kong.service.request.clear_header(name)
        elif where == "query":
            kong.service.request.set_query({k: v for k, v in query.items() if k != name})


class _Headers:
    """Kong's ``kong.request.get_headers()`` as key-auth reads it, one name at a time: a key
    in one header is found without the whole table."""

    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request

    def get(self, name: str) -> Any:
        return self.request.header_entry(name)


def _expired(credential: dict[str, Any]) -> bool:
    ttl = credential.get("ttl")
    created = credential.get("created_at")
    return bool(ttl) and created is not None and created + ttl < time.time()


def _identify(kong: Any, consumer: dict[str, Any], credential: dict[str, Any] | None, *, anonymous: bool) -> None:
    """Kong's set_consumer: the X-Consumer-* headers upstream, then kong.client.authenticate."""
    request = kong.service.request
    for header, value in (
        ("X-Consumer-ID", consumer.get("id")),
        ("X-Consumer-Custom-ID", consumer.get("custom_id")),
        ("X-Consumer-Username", consumer.get("username")),
        ("X-Credential-Identifier", credential.get("id") if credential else None),
    ):
        if value is not None:
            request.set_header(header, value)
        else:
            request.clear_header(header)
    if anonymous:
        request.set_header("X-Anonymous-Consumer", "true")
    else:
        request.clear_header("X-Anonymous-Consumer")
    kong.client.authenticate(consumer, credential)
