"""Kong's typedefs (kong/db/schema/typedefs.lua) as `Field` values."""

from __future__ import annotations

from . import validators as v
from .checks import AtLeastOneOf
from .fields import Field, record

# constants.PROTOCOLS: every protocol Kong knows, sorted
PROTOCOLS = ("grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp")
HTTP_PROTOCOLS = ("grpc", "grpcs", "http", "https")

http_method = Field("string", match=r"^[A-Z]+$")
protocol = Field("string", one_of=PROTOCOLS)
host = Field("string", custom_validator=v.host)
host_with_optional_port = Field("string", custom_validator=v.host_with_optional_port)
wildcard_host = Field("string", custom_validator=v.wildcard_host)
ip = Field("string", custom_validator=v.ip)
ip_or_cidr = Field("string", custom_validator=v.ip_or_cidr)
cidr = Field("string", custom_validator=v.cidr_v4)
port = Field("integer", between=(0, 65535))
path = Field("string", starts_with="/", match_none=(("//", "must not have empty segments"),), custom_validator=v.path)
url = Field("string", custom_validator=v.url)
header_name = Field("string", custom_validator=v.header_name)
cookie_name = Field("string", custom_validator=v.http_token)
timeout = Field("integer", between=(0, 2**31 - 2))
uuid = Field("string", uuid=True, auto=True)
auto_timestamp_s = Field("integer", timestamp=True, auto=True)
auto_timestamp_ms = Field("number", timestamp=True, auto=True)
name = Field("string", unique=True, custom_validator=v.name)
utf8_name = Field("string", unique=True, custom_validator=v.utf8_name)
sni = Field("string", custom_validator=v.sni)
certificate = Field("string", custom_validator=v.certificate)
key = Field("string", custom_validator=v.key)
tag = Field("string", required=True, custom_validator=v.tag)
tags = Field("set", elements=tag)
protocols = Field("set", required=True, default=list(HTTP_PROTOCOLS), elements=protocol)

_endpoint = record(("ip", ip_or_cidr), ("port", port), entity_checks=(AtLeastOneOf(("ip", "port")),))
sources = Field("set", elements=_endpoint)
destinations = Field("set", elements=_endpoint)
methods = Field("set", elements=http_method)
hosts = Field(
    "array",
    elements=Field(
        "string",
        match_all=((r"^[^*]*\*?[^*]*$", "invalid wildcard: must have at most one wildcard"),),
        match_any=((r"^\*\.", r"\.\*$", r"^[^*]*$"), "invalid wildcard: must be placed at leftmost or rightmost label"),
        custom_validator=v.host_with_wildcards,
    ),
)
router_path = Field(
    "string",
    match_any=((r"^/", r"^~/"), "should start with: / (fixed path) or ~/ (regex path)"),
    match_none=(("//", "must not have empty segments"),),
    custom_validator=v.router_path,
)
router_paths = Field("array", elements=router_path)
headers = Field("map", keys=header_name, values=Field("array", elements=Field("string")))
