"""``Conf``: the loaded configuration, immutable, one typed attribute per honoured key."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from .addresses import HostPort
from .kong_keys import SENSITIVE
from .listeners import Listener
from .pluginservers import PluginServer
from .trusted_ips import TrustedIps

MASK = "******"  # Kong's placeholder for hidden values


@dataclass(frozen=True, slots=True, kw_only=True)
class Conf:
    prefix: str  # absolute
    role: str
    database: str
    declarative_config: str | None  # absolute
    proxy_listen: tuple[Listener, ...]
    admin_listen: tuple[Listener, ...]
    status_listen: tuple[Listener, ...]
    cluster_listen: tuple[Listener, ...]
    cluster_control_plane: tuple[HostPort, ...]  # a data plane tries them in turn
    cluster_mtls: str  # shared | pki
    cluster_cert: str | None  # absolute path
    cluster_cert_key: str | None  # absolute path
    cluster_ca_cert: str | None  # absolute path; the trust root with cluster_mtls = pki
    cluster_server_name: str | None  # pki: the name a data plane expects in the CP certificate
    cluster_dp_labels: Mapping[str, str]
    cluster_data_plane_purge_delay: int  # seconds a silent data plane stays listed
    cluster_max_payload: int  # accepted for Kong compatibility; not a ceiling in Gantry
    plugins: tuple[str, ...]  # Kong's `plugins`: bundled, off, or custom plugin names
    pluginserver_names: tuple[PluginServer, ...]  # each server named, with its pluginserver_XXX_* keys read
    nginx_worker_processes: int  # 'auto' already resolved to the CPU count
    log_level: str
    proxy_access_log: str | None  # absolute; None when off
    proxy_error_log: str  # absolute
    admin_access_log: str | None  # absolute; None when off
    admin_error_log: str | None  # absolute; None when off
    ssl_cipher_suite: str  # modern | intermediate | old | fips | custom (dataplane.listener_tls.policy)
    ssl_ciphers: str  # with ssl_cipher_suite = custom
    ssl_protocols: str  # with ssl_cipher_suite = custom
    ssl_prefer_server_ciphers: bool  # with ssl_cipher_suite = custom
    lmdb_environment_path: str  # absolute
    lmdb_map_size: int  # bytes
    upstream_keepalive_pool_size: int
    upstream_keepalive_max_requests: int
    upstream_keepalive_idle_timeout: float  # seconds
    nginx_http_client_max_body_size: int  # bytes, 0 = unlimited
    nginx_http_client_header_buffer_size: int  # bytes
    client_body_buffer_size: int  # bytes of a buffered request body kept in memory, the rest in a file
    nginx_http_underscores_in_headers: bool  # off: header names with '_' are dropped
    nginx_http_large_client_header_buffers: tuple[int, int]  # (number, bytes each)
    real_ip_header: str
    real_ip_recursive: bool
    trusted_ips: TrustedIps
    headers: frozenset[str]  # header names, tokens expanded
    headers_upstream: frozenset[str]
    dns_resolver: tuple[HostPort, ...]
    dns_hostsfile: str
    dns_order: tuple[str, ...]
    dns_valid_ttl: float | None
    dns_stale_ttl: float
    dns_not_found_ttl: float
    dns_error_ttl: float
    lua_ssl_trusted_certificate: tuple[str, ...]  # 'system', absolute paths or PEM text
    lua_ssl_verify_depth: int
    ssl_cert: tuple[str, ...]  # absolute paths; empty: a generated default certificate
    ssl_cert_key: tuple[str, ...]
    pg_host: str
    pg_port: int
    pg_database: str
    pg_schema: str | None  # None: the server's search_path
    pg_timeout: int  # milliseconds, for connecting and for each query
    pg_user: str
    pg_password: str | None
    pg_ssl: bool
    pg_ssl_verify: bool  # verify the server certificate against lua_ssl_trusted_certificate
    pg_pool_size: int | None  # None: the store's default pool size
    db_update_frequency: float  # seconds between a traditional node's polls of the database
    raw: Mapping[str, str] = field(repr=False)
    _sources: Mapping[str, str] = field(repr=False)

    def source(self, key: str) -> str:
        """Where the value of ``key`` came from: ``<file>:<line>``, ``KONG_<KEY>``,
        ``override`` or ``default``. Raises ``KeyError`` for a key not in ``raw``."""
        if key not in self.raw:
            raise KeyError(key)
        return self._sources.get(key, "default")

    @property
    def max_request_line_size(self) -> int:
        """Longest request line accepted (longer: 414), as nginx: one large header buffer."""
        return self.nginx_http_large_client_header_buffers[1]

    @property
    def max_header_line_size(self) -> int:
        """Longest single header line accepted (longer: 431)."""
        return self.nginx_http_large_client_header_buffers[1]

    @property
    def max_header_size(self) -> int:
        """Largest header section accepted (larger: 431): all the large buffers together."""
        number, each = self.nginx_http_large_client_header_buffers
        return number * each

    def as_sanitized_dict(self) -> dict[str, str]:
        """Every key's string value, with passwords, keys and secrets masked."""
        return {key: MASK if _is_secret(key) and value else value for key, value in self.raw.items()}


def _is_secret(key: str) -> bool:
    return key in SENSITIVE or key.endswith(("_password", "_secret", "_token", "_cert_key"))
