"""The key table: every key Kong knows, and for the ones Gantry honours, how to read them.

Honoured keys are typed and validated; every other Kong key is accepted as written and
reported once as not applicable.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from . import kong_keys, types, values
from .headers import parse_headers, parse_headers_upstream
from .listeners import parse_listeners
from .pluginservers import pluginserver_names
from .trusted_ips import parse_trusted_ips

# Paths that Kong resolves inside the prefix (nginx runs with -p <prefix>).
PREFIX_RELATIVE: Final = (
    "proxy_access_log",
    "proxy_error_log",
    "admin_access_log",
    "admin_error_log",
    "lmdb_environment_path",
)


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    default: str
    parse: types.Parser[Any]
    # Kong lets this other key, when a user sets it, decide the value (e.g. nginx_main_*).
    replaced_by: str | None = None


def _spec(name: str, parse: types.Parser[Any], replaced_by: str | None = None) -> KeySpec:
    return KeySpec(name, kong_keys.ALL_DEFAULTS[name], parse, replaced_by)


_non_negative_int = types.integer(minimum=0)
_non_negative = types.number(minimum=0)
_text = types.required(types.string)

HONOURED: Final[Mapping[str, KeySpec]] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec("prefix", _text),
            _spec("role", types.enum("traditional", "control_plane", "data_plane")),
            _spec("database", values.database),
            _spec("declarative_config", types.optional(types.string)),
            _spec("proxy_listen", parse_listeners),
            _spec("admin_listen", parse_listeners),
            _spec("status_listen", parse_listeners),
            _spec("cluster_listen", parse_listeners),
            _spec("cluster_control_plane", values.control_planes),
            _spec("cluster_mtls", types.enum("shared", "pki")),
            _spec("cluster_cert", types.optional(values.existing_file)),
            _spec("cluster_cert_key", types.optional(values.existing_file)),
            _spec("cluster_ca_cert", types.optional(values.existing_file)),
            _spec("cluster_server_name", types.optional(types.string)),
            _spec("cluster_dp_labels", values.dp_labels),
            _spec("cluster_data_plane_purge_delay", types.integer(minimum=60)),
            _spec("cluster_max_payload", types.integer(minimum=1)),
            _spec("plugins", types.string_list),
            _spec("pluginserver_names", pluginserver_names),
            _spec("nginx_worker_processes", values.worker_processes, "nginx_main_worker_processes"),
            _spec("log_level", types.enum("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")),
            _spec("proxy_access_log", values.log_path),
            _spec("proxy_error_log", _text),
            _spec("admin_access_log", values.log_path),
            _spec("admin_error_log", values.log_path),
            _spec("ssl_cipher_suite", types.enum("modern", "intermediate", "old", "fips", "custom")),
            _spec("ssl_ciphers", types.string),
            _spec("ssl_protocols", _text),
            _spec("ssl_prefer_server_ciphers", types.boolean),
            _spec("lmdb_environment_path", _text),
            _spec("lmdb_map_size", types.size(minimum=1)),
            _spec("upstream_keepalive_pool_size", _non_negative_int),
            _spec("upstream_keepalive_max_requests", _non_negative_int),
            _spec("upstream_keepalive_idle_timeout", _non_negative),
            _spec("nginx_http_client_max_body_size", types.size()),
            _spec("nginx_http_client_header_buffer_size", types.size(minimum=1)),
            _spec("client_body_buffer_size", types.size(minimum=1), "nginx_http_client_body_buffer_size"),
            _spec("nginx_http_underscores_in_headers", types.boolean),
            _spec("nginx_http_large_client_header_buffers", values.header_buffers),
            _spec("real_ip_header", _text, "nginx_proxy_real_ip_header"),
            _spec("real_ip_recursive", types.boolean, "nginx_proxy_real_ip_recursive"),
            _spec("trusted_ips", parse_trusted_ips),
            _spec("headers", parse_headers),
            _spec("headers_upstream", parse_headers_upstream),
            _spec("dns_resolver", values.dns_resolver),
            _spec("dns_hostsfile", values.existing_file),
            _spec("dns_order", values.dns_order),
            _spec("dns_valid_ttl", types.optional(_non_negative)),
            _spec("dns_stale_ttl", _non_negative),
            _spec("dns_not_found_ttl", _non_negative),
            _spec("dns_error_ttl", _non_negative),
            _spec("lua_ssl_trusted_certificate", values.trusted_certificates),
            _spec("lua_ssl_verify_depth", _non_negative_int),
            _spec("ssl_cert", values.existing_files),
            _spec("ssl_cert_key", values.existing_files),
            _spec("pg_host", _text),
            _spec("pg_port", values.port),
            _spec("pg_database", _text),
            _spec("pg_schema", types.optional(types.string)),
            _spec("pg_timeout", types.integer(minimum=1)),
            _spec("pg_user", _text),
            _spec("pg_password", types.optional(types.string)),
            _spec("pg_ssl", types.boolean),
            _spec("pg_ssl_verify", types.boolean),
            _spec("pg_pool_size", types.optional(types.integer(minimum=1))),
            _spec("db_update_frequency", types.number(minimum=0.001)),
        )
    }
)

# Keys that only feed an honoured key (Kong's alias replacements).
REPLACEMENTS: Final[Mapping[str, str]] = MappingProxyType(
    {spec.replaced_by: spec.name for spec in HONOURED.values() if spec.replaced_by}
)


def is_honoured(name: str) -> bool:
    return name in HONOURED or name in REPLACEMENTS
