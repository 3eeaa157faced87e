"""Plugin names Kong bundles (kong/constants.lua BUNDLED_PLUGINS) and the plugin `config`
subschemas registered by the plugin runtime.

A plugin entity is valid only when its name is one the node runs (`dataplane.plugins.Registry`
names): storing one that no node would run leaves a route open that its owner believes
protected. Kong's bundled list is kept for what speaks of Kong's names, never to accept one."""

from __future__ import annotations

from .fields import EntitySubschema, Field

BUNDLED_PLUGINS: frozenset[str] = frozenset(
    {
        "jwt",
        "acl",
        "correlation-id",
        "cors",
        "oauth2",
        "tcp-log",
        "udp-log",
        "file-log",
        "http-log",
        "key-auth",
        "hmac-auth",
        "basic-auth",
        "ip-restriction",
        "request-transformer",
        "response-transformer",
        "request-size-limiting",
        "rate-limiting",
        "response-ratelimiting",
        "syslog",
        "loggly",
        "datadog",
        "ldap-auth",
        "statsd",
        "bot-detection",
        "aws-lambda",
        "request-termination",
        "prometheus",
        "proxy-cache",
        "session",
        "acme",
        "grpc-gateway",
        "grpc-web",
        "pre-function",
        "post-function",
        "azure-functions",
        "zipkin",
        "opentelemetry",
        "ai-proxy",
        "ai-prompt-decorator",
        "ai-prompt-template",
        "ai-prompt-guard",
        "ai-request-transformer",
        "ai-response-transformer",
        "standard-webhooks",
        "redirect",
    }
)

# Until a plugin registers its schema, its config only has to be an object.
ANY_CONFIG = Field("record", fields=None, required=True, default={})

_config_schemas: dict[str, Field] = {}
# Plugins never scoped to a consumer (Kong's typedefs.no_consumer): they identify it
_no_consumer: set[str] = set()
# One subschema object per plugin, so that the compiled plan kept for it is found again
_subschemas: dict[str, EntitySubschema] = {}

# Kong's typedefs.no_consumer ("value must be null"), and the same for a consumer group: a
# plugin that identifies the consumer runs before any consumer-scoped config could apply
_NO_CONSUMER = (
    ("consumer", Field("foreign", reference="consumers", eq_null=True)),
    ("consumer_group", Field("foreign", reference="consumer_groups", eq_null=True)),
)


def register_plugin_config(name: str, config: Field, *, no_consumer: bool = False) -> None:
    """Install the `config` record of plugin `name` (called by the plugin runtime)."""
    _config_schemas[name] = config(required=True)
    if no_consumer:
        _no_consumer.add(name)
    else:
        _no_consumer.discard(name)
    _subschemas.pop(name, None)


def loaded_plugins() -> frozenset[str]:
    """The plugins whose config this process registered: the ones the registries it loaded
    run. Validation without an explicit plugin set uses these, never Kong's whole list."""
    return frozenset(_config_schemas)


def plugin_subschema(name: str) -> EntitySubschema:
    sub = _subschemas.get(name)
    if sub is None:
        config = ("config", _config_schemas.get(name, ANY_CONFIG))
        fields = (*_NO_CONSUMER, config) if name in _no_consumer else (config,)
        sub = _subschemas[name] = EntitySubschema(name, fields=fields)
    return sub
