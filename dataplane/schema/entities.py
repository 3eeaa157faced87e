"""Kong's core entities (kong/db/schema/entities/*.lua) as data, and the credential entities
of its authentication plugins (`credentials`)."""

from __future__ import annotations

from typing import Any

from . import netaddr, pem, typedefs as t, validators as v
from .checks import AtLeastOneOf, Conditional, ConditionalAtLeastOneOf, Custom, Distinct, MutuallyRequired
from .consumer_groups import CONSUMER_GROUP_CONSUMERS, CONSUMER_GROUPS
from .credentials import CREDENTIALS
from .fields import EntitySchema, EntitySubschema, Field, Shorthand, record
from .plugins import plugin_subschema
from .validator import fill_record

# ------------------------------------------------------------------ services

_nonzero_timeout = Field("integer", between=(1, 2**31 - 2))


def _expand_service_url(value: str) -> dict[str, Any]:
    """Kong's `url` shorthand: protocol, host, port and path from one URL."""
    from urllib.parse import urlsplit

    try:
        parsed = urlsplit(value)
        port = parsed.port
    except ValueError:
        return {}
    default_protocol = "http" if port == 80 else "https" if port == 443 else None
    protocol = parsed.scheme or default_protocol or "http"
    if port is None:
        port = 80 if protocol == "http" else 443 if protocol == "https" else 80
    return {"protocol": protocol, "host": parsed.hostname or None, "port": port, "path": parsed.path or None}


def _not(protocols: tuple[str, ...], then_field: str) -> Conditional:
    return Conditional("protocol", {"not_one_of": protocols, "one_of": None}, then_field, {"eq_null": True})


SERVICES = EntitySchema(
    "services",
    endpoint_key="name",
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("name", t.utf8_name),
        ("retries", Field("integer", default=5, between=(0, 32767))),
        ("protocol", t.protocol(required=True, default="http")),
        ("host", t.host(required=True)),
        ("port", t.port(required=True, default=80)),
        ("path", t.path),
        ("connect_timeout", _nonzero_timeout(default=60000)),
        ("write_timeout", _nonzero_timeout(default=60000)),
        ("read_timeout", _nonzero_timeout(default=60000)),
        ("tags", t.tags),
        ("client_certificate", Field("foreign", reference="certificates")),
        ("tls_verify", Field("boolean")),
        ("tls_verify_depth", Field("integer", default=None, between=(0, 64))),
        ("ca_certificates", Field("array", elements=Field("string", uuid=True))),
        ("enabled", Field("boolean", required=True, default=True)),
    ),
    entity_checks=(
        Conditional("protocol", {"one_of": ("tcp", "tls", "udp", "grpc", "grpcs")}, "path", {"eq_null": True}),
        _not(("https", "tls"), "client_certificate"),
        _not(("https", "tls"), "tls_verify"),
        _not(("https", "tls"), "tls_verify_depth"),
        _not(("https", "tls"), "ca_certificates"),
    ),
    shorthands=(Shorthand("url", Field("string"), _expand_service_url),),
)

# ------------------------------------------------------------------ routes

_STREAM_ERR = "cannot set '{}' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"
_GRPC_ERR = "cannot set '{}' when 'protocols' is 'grpc' or 'grpcs'"
_HTTP_ERR = "cannot set '{}' when 'protocols' is 'http' or 'https'"

_http_sub = EntitySubschema(
    "http",
    fields=(
        ("sources", t.sources(eq_null=True, err=_HTTP_ERR.format("sources"))),
        ("destinations", t.destinations(eq_null=True, err=_HTTP_ERR.format("destinations"))),
    ),
    entity_checks=(
        ConditionalAtLeastOneOf(
            "protocols",
            {"contains": "https"},
            ("methods", "hosts", "headers", "paths", "snis"),
            "must set one of {} when 'protocols' is 'https'",
            else_match={"contains": "http"},
            else_then_at_least_one_of=("methods", "hosts", "headers", "paths"),
            else_then_err="must set one of {} when 'protocols' is 'http'",
        ),
    ),
)
_stream_sub = EntitySubschema(
    "tcp",
    fields=tuple(
        (f, d(eq_null=True, err=_STREAM_ERR.format(f)))
        for f, d in (("methods", t.methods), ("hosts", t.hosts), ("paths", t.router_paths), ("headers", t.headers))
    ),
    entity_checks=(
        ConditionalAtLeastOneOf(
            "protocols",
            {"elements": Field("string", one_of=("tcp", "tls", "udp"))},
            ("sources", "destinations", "snis"),
            "must set one of {} when 'protocols' is 'tcp', 'tls' or 'udp'",
        ),
        ConditionalAtLeastOneOf(
            "protocols",
            {"elements": Field("string", one_of=("tls_passthrough",))},
            ("snis",),
            "must set snis when 'protocols' is 'tls_passthrough'",
        ),
    ),
)
_grpc_sub = EntitySubschema(
    "grpc",
    fields=(
        ("strip_path", Field("boolean", required=True, default=False, ne=True, err=_GRPC_ERR.format("strip_path"))),
        ("methods", t.methods(eq_null=True, err=_GRPC_ERR.format("methods"))),
        ("sources", t.sources(eq_null=True, err=_GRPC_ERR.format("sources"))),
        ("destinations", t.sources(eq_null=True, err=_GRPC_ERR.format("destinations"))),
    ),
    entity_checks=(
        ConditionalAtLeastOneOf(
            "protocols",
            {"contains": "grpcs"},
            ("hosts", "headers", "paths", "snis"),
            "must set one of {} when 'protocols' is 'grpcs'",
            else_match={"contains": "grpc"},
            else_then_at_least_one_of=("hosts", "headers", "paths"),
            else_then_err="must set one of {} when 'protocols' is 'grpc'",
        ),
    ),
)

ROUTES = EntitySchema(
    "routes",
    endpoint_key="name",
    subschema_key="protocols",
    subschemas={
        "http": _http_sub,
        "https": _http_sub,
        "tcp": _stream_sub,
        "tls": _stream_sub,
        "udp": _stream_sub,
        "tls_passthrough": _stream_sub,
        "grpc": _grpc_sub,
        "grpcs": _grpc_sub,
    },
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("name", t.utf8_name),
        (
            "protocols",
            Field(
                "set",
                len_min=1,
                required=True,
                elements=t.protocol,
                mutually_exclusive_subsets=(
                    ("http", "https"),
                    ("tcp", "tls", "udp"),
                    ("tls_passthrough",),
                    ("grpc", "grpcs"),
                ),
                default=["http", "https"],
            ),
        ),
        ("https_redirect_status_code", Field("integer", one_of=(426, 301, 302, 307, 308), default=426, required=True)),
        ("strip_path", Field("boolean", required=True, default=True)),
        ("preserve_host", Field("boolean", required=True, default=False)),
        ("request_buffering", Field("boolean", required=True, default=True)),
        ("response_buffering", Field("boolean", required=True, default=True)),
        ("tags", t.tags),
        ("service", Field("foreign", reference="services")),
        ("snis", Field("set", elements=t.wildcard_host)),
        ("sources", t.sources),
        ("destinations", t.destinations),
        ("methods", t.methods),
        ("hosts", t.hosts),
        ("paths", t.router_paths),
        (
            "headers",
            t.headers(
                keys=t.header_name(
                    match_none=(
                        (
                            r"^[Hh][Oo][Ss][Tt]$",
                            "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
                        ),
                    )
                )
            ),
        ),
        ("regex_priority", Field("integer", default=0)),
        ("path_handling", Field("string", default="v0", one_of=("v0", "v1"))),
    ),
    entity_checks=(
        Conditional(
            "protocols",
            {"elements": Field("string", not_one_of=("grpcs", "https", "tls", "tls_passthrough"))},
            "snis",
            {"len_eq": 0},
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
        ),
    ),
)

# ------------------------------------------------------------------ upstreams

_hash_on = Field(
    "string", default="none", one_of=("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture")
)
_http_statuses = Field("array", elements=Field("integer", between=(100, 999)))
_seconds = Field("number", between=(0, 65535))
_positive_int = Field("integer", between=(1, 2**31))
_byte = Field("integer", between=(0, 255))
_check_type = Field("string", one_of=("tcp", "http", "https", "grpc", "grpcs"), default="http")
_simple_param = Field("string", len_min=1)


def _defaulted(*fields: tuple[str, Field], **kw: Any) -> Field:
    """A record whose default is its own fully expanded form, as Kong's healthchecks."""
    return record(*fields, default=fill_record(tuple(fields), {}, now=0), **kw)


_healthchecks = _defaulted(
    (
        "active",
        _defaulted(
            ("type", _check_type),
            ("timeout", _seconds(default=1)),
            ("concurrency", _positive_int(default=10)),
            ("http_path", t.path(default="/")),
            ("https_sni", t.sni),
            ("https_verify_certificate", Field("boolean", default=True, required=True)),
            ("headers", t.headers),
            (
                "healthy",
                _defaulted(
                    ("interval", _seconds(default=0)),
                    ("http_statuses", _http_statuses(default=[200, 302])),
                    ("successes", _byte(default=0)),
                ),
            ),
            (
                "unhealthy",
                _defaulted(
                    ("interval", _seconds(default=0)),
                    ("http_statuses", _http_statuses(default=[429, 404, 500, 501, 502, 503, 504, 505])),
                    ("tcp_failures", _byte(default=0)),
                    ("timeouts", _byte(default=0)),
                    ("http_failures", _byte(default=0)),
                ),
            ),
        ),
    ),
    (
        "passive",
        _defaulted(
            ("type", _check_type),
            (
                "healthy",
                _defaulted(
                    (
                        "http_statuses",
                        _http_statuses(
                            default=[
                                200,
                                201,
                                202,
                                203,
                                204,
                                205,
                                206,
                                207,
                                208,
                                226,
                                300,
                                301,
                                302,
                                303,
                                304,
                                305,
                                306,
                                307,
                                308,
                            ]
                        ),
                    ),
                    ("successes", _byte(default=0)),
                ),
            ),
            (
                "unhealthy",
                _defaulted(
                    ("http_statuses", _http_statuses(default=[429, 500, 503])),
                    ("tcp_failures", _byte(default=0)),
                    ("timeouts", _byte(default=0)),
                    ("http_failures", _byte(default=0)),
                ),
            ),
        ),
    ),
    ("threshold", Field("number", default=0, between=(0, 100))),
)


def _hash_cond(if_field: str, value: str, then_field: str, then_match: dict[str, Any]) -> Conditional:
    return Conditional(if_field, {"match": f"^{value}$", "one_of": None}, then_field, then_match)


def _fallback_one_of(value: str, allowed: tuple[str, ...]) -> Conditional:
    return _hash_cond("hash_on", value, "hash_fallback", {"one_of": allowed})


def _algorithm_shorthand(value: str) -> dict[str, Any]:
    if value in ("least-connections", "latency"):
        return {"algorithm": value, "hash_on": None}
    return {"algorithm": value}


def _hash_on_shorthand(value: str | None) -> dict[str, Any]:
    if value is None:
        return {"hash_on": "none"}
    if value == "none":
        return {"hash_on": value, "algorithm": "round-robin"}
    return {"hash_on": value, "algorithm": "consistent-hashing"}


UPSTREAMS = EntitySchema(
    "upstreams",
    endpoint_key="name",
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("name", Field("string", required=True, unique=True, custom_validator=v.upstream_name)),
        ("updated_at", t.auto_timestamp_s),
        (
            "algorithm",
            Field(
                "string",
                default="round-robin",
                one_of=("consistent-hashing", "least-connections", "round-robin", "latency"),
            ),
        ),
        ("hash_on", _hash_on),
        ("hash_fallback", _hash_on),
        ("hash_on_header", t.header_name),
        ("hash_fallback_header", t.header_name),
        ("hash_on_cookie", t.cookie_name),
        ("hash_on_cookie_path", t.path(default="/")),
        ("hash_on_query_arg", _simple_param),
        ("hash_fallback_query_arg", _simple_param),
        ("hash_on_uri_capture", _simple_param),
        ("hash_fallback_uri_capture", _simple_param),
        ("slots", Field("integer", default=10000, between=(10, 2**16))),
        ("healthchecks", _healthchecks),
        ("tags", t.tags),
        ("host_header", t.host_with_optional_port),
        ("client_certificate", Field("foreign", reference="certificates")),
        ("use_srv_name", Field("boolean", default=False)),
    ),
    entity_checks=(
        _hash_cond("hash_on", "header", "hash_on_header", {"required": True}),
        _hash_cond("hash_fallback", "header", "hash_fallback_header", {"required": True}),
        _hash_cond("hash_on", "cookie", "hash_on_cookie", {"required": True}),
        _hash_cond("hash_fallback", "cookie", "hash_on_cookie", {"required": True}),
        _fallback_one_of("none", ("none",)),
        _fallback_one_of("cookie", ("none",)),
        _fallback_one_of("consumer", ("none", "ip", "header", "cookie", "path", "query_arg", "uri_capture")),
        _fallback_one_of("ip", ("none", "consumer", "header", "cookie", "path", "query_arg", "uri_capture")),
        _fallback_one_of("path", ("none", "consumer", "header", "cookie", "query_arg", "ip", "uri_capture")),
        Distinct(("hash_on_header", "hash_fallback_header")),
        _hash_cond("hash_on", "query_arg", "hash_on_query_arg", {"required": True}),
        _hash_cond("hash_fallback", "query_arg", "hash_fallback_query_arg", {"required": True}),
        Distinct(("hash_on_query_arg", "hash_fallback_query_arg")),
        _hash_cond("hash_on", "uri_capture", "hash_on_uri_capture", {"required": True}),
        _hash_cond("hash_fallback", "uri_capture", "hash_fallback_uri_capture", {"required": True}),
        Distinct(("hash_on_uri_capture", "hash_fallback_uri_capture")),
    ),
    shorthands=(
        Shorthand("algorithm", Field("string"), _algorithm_shorthand),
        Shorthand("hash_on", Field("string"), _hash_on_shorthand),
    ),
)

# ------------------------------------------------------------------ targets

TARGET_DEFAULT_PORT = 8000


def _format_target(entity: dict[str, Any]) -> None:
    """Kong's targets DAO stores `host:port`, adding port 8000 when none is given."""
    addr = netaddr.normalize_ip(entity["target"])
    entity["target"] = netaddr.format_host(addr, TARGET_DEFAULT_PORT)


TARGETS = EntitySchema(
    "targets",
    endpoint_key="target",
    cache_key=("upstream", "target"),
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_ms),
        ("updated_at", t.auto_timestamp_ms),
        ("upstream", Field("foreign", reference="upstreams", required=True)),
        ("target", Field("string", required=True, custom_validator=v.target)),
        ("weight", Field("integer", default=100, between=(0, 65535))),
        ("tags", t.tags),
    ),
    finalize=_format_target,
)

# ------------------------------------------------------------------ consumers

CONSUMERS = EntitySchema(
    "consumers",
    endpoint_key="username",
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("username", Field("string", unique=True)),
        ("custom_id", Field("string", unique=True)),
        ("tags", t.tags),
    ),
    entity_checks=(AtLeastOneOf(("custom_id", "username")),),
)

# ------------------------------------------------------------------ plugins


def _ordering_without_consumer(e: dict[str, Any]) -> str | None:
    ordering = e.get("ordering") or {}
    if not any(ordering.get(side) for side in ("before", "after")):
        return None
    if e.get("consumer"):
        return (
            "a plugin scoped to a consumer cannot set a dynamic ordering (it is decided before the consumer is known)"
        )
    if e.get("consumer_group"):
        return (
            "a plugin scoped to a consumer group cannot set a dynamic ordering "
            "(it is decided before the consumer is known)"
        )
    return None


def _consumer_or_group(e: dict[str, Any]) -> str | None:
    # no precedence level combines the two: such a config could never be chosen
    if e.get("consumer") and e.get("consumer_group"):
        return "a plugin can be scoped to a consumer or to a consumer group, not both"
    return None


_ordering_phases = Field(
    "map", keys=Field("string", one_of=("access",)), values=Field("array", elements=Field("string"))
)

PLUGINS = EntitySchema(
    "plugins",
    endpoint_key="instance_name",
    cache_key=("name", "route", "service", "consumer"),
    subschema_key="name",
    subschema_error="plugin '{}' not enabled; add it to the 'plugins' configuration property",
    dynamic_subschemas=plugin_subschema,
    fields=(
        ("id", t.uuid),
        ("name", Field("string", required=True)),
        ("instance_name", t.utf8_name),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("route", Field("foreign", reference="routes", default=None)),
        ("service", Field("foreign", reference="services", default=None)),
        ("consumer", Field("foreign", reference="consumers", default=None)),
        # Kong Enterprise's consumer-group scope (dataplane/schema/consumer_groups.py)
        ("consumer_group", Field("foreign", reference="consumer_groups", default=None)),
        ("config", Field("record", fields=None, required=True, default={})),
        ("protocols", t.protocols),
        ("enabled", Field("boolean", required=True, default=True)),
        ("tags", t.tags),
        ("ordering", record(("before", _ordering_phases), ("after", _ordering_phases))),
    ),
    # the access phase's order is fixed per route before any plugin has identified a consumer
    entity_checks=(
        Custom(("ordering", "consumer", "consumer_group"), _ordering_without_consumer),
        Custom(("consumer", "consumer_group"), _consumer_or_group),
    ),
)

# ------------------------------------------------------------------ certificates


def _cert_key_match(e: dict[str, Any]) -> str | None:
    if pem.cert_matches_key(e["cert"], e["key"]) is False:
        return "certificate does not match key"
    return None


def _alt_key_match(e: dict[str, Any]) -> str | None:
    if (
        isinstance(e["cert_alt"], str)
        and isinstance(e["key_alt"], str)
        and pem.cert_matches_key(e["cert_alt"], e["key_alt"]) is False
    ):
        return "alternative certificate does not match key"
    return None


def _alt_type_differs(e: dict[str, Any]) -> str | None:
    if isinstance(e["cert"], str) and isinstance(e["cert_alt"], str) and pem.same_key_type(e["cert"], e["cert_alt"]):
        return (
            "certificate and alternative certificate need to have different type (e.g. RSA "
            "and ECDSA), the provided certificates were both of the same type"
        )
    return None


CERTIFICATES = EntitySchema(
    "certificates",
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("cert", t.certificate(required=True)),
        ("key", t.key(required=True)),
        ("cert_alt", t.certificate),
        ("key_alt", t.key),
        ("tags", t.tags),
        ("snis", Field("array", elements=t.wildcard_host, transient=True)),
    ),
    entity_checks=(
        MutuallyRequired(("cert_alt", "key_alt")),
        Custom(("cert", "key"), _cert_key_match),
        Custom(("cert_alt", "key_alt"), _alt_key_match),
        Custom(("cert", "cert_alt"), _alt_type_differs),
    ),
)

SNIS = EntitySchema(
    "snis",
    endpoint_key="name",
    fields=(
        ("id", t.uuid),
        ("name", t.wildcard_host(required=True, unique=True)),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("tags", t.tags),
        ("certificate", Field("foreign", reference="certificates", required=True)),
    ),
)


def _set_cert_digest(entity: dict[str, Any]) -> None:
    entity["cert_digest"] = pem.digest(entity["cert"])


CA_CERTIFICATES = EntitySchema(
    "ca_certificates",
    fields=(
        ("id", t.uuid),
        ("created_at", t.auto_timestamp_s),
        ("updated_at", t.auto_timestamp_s),
        ("cert", t.certificate(required=True)),
        ("cert_digest", Field("string", unique=True)),
        ("tags", t.tags),
    ),
    entity_checks=(Custom(("cert",), lambda e: pem.ca_problem(e["cert"])),),
    finalize=_set_cert_digest,
)

# In the flat config's order (docs/internals.md): referenced entities before their referrers.
ENTITIES: dict[str, EntitySchema] = {
    s.name: s
    for s in (
        CA_CERTIFICATES,
        CERTIFICATES,
        SNIS,
        SERVICES,
        ROUTES,
        UPSTREAMS,
        TARGETS,
        CONSUMERS,
        *CREDENTIALS,
        CONSUMER_GROUPS,
        CONSUMER_GROUP_CONSUMERS,
        PLUGINS,
    )
}


def get_schema(name: str) -> EntitySchema:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"no such entity: {name}") from None
