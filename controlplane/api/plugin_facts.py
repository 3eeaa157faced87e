"""What `GET /` reports for each plugin the node can run: `{version, priority}`, as Kong
lists its loaded handlers. Priorities are those of Kong 3.10's bundled handlers (their
PRIORITY), which Gantry's bundled plugins keep so chains run in Kong's order."""

from __future__ import annotations

from typing import Final

from dataplane import __version__

BUNDLED_PRIORITIES: Final[dict[str, int]] = {
    "pre-function": 1000000,
    "correlation-id": 100001,
    "zipkin": 100000,
    "bot-detection": 2500,
    "cors": 2000,
    "session": 1900,
    "acme": 1705,
    "jwt": 1450,
    "oauth2": 1400,
    "key-auth": 1250,
    "ldap-auth": 1200,
    "basic-auth": 1100,
    "hmac-auth": 1030,
    "grpc-gateway": 998,
    "ip-restriction": 990,
    "request-size-limiting": 951,
    "acl": 950,
    "rate-limiting": 910,
    "response-ratelimiting": 900,
    "request-transformer": 801,
    "response-transformer": 800,
    "redirect": 779,
    "ai-request-transformer": 777,
    "ai-prompt-template": 773,
    "ai-prompt-decorator": 772,
    "ai-prompt-guard": 771,
    "ai-proxy": 770,
    "ai-response-transformer": 768,
    "standard-webhooks": 760,
    "aws-lambda": 750,
    "azure-functions": 749,
    "proxy-cache": 100,
    "opentelemetry": 14,
    "prometheus": 13,
    "http-log": 12,
    "statsd": 11,
    "datadog": 10,
    "file-log": 9,
    "udp-log": 8,
    "tcp-log": 7,
    "loggly": 6,
    "syslog": 4,
    "grpc-web": 3,
    "request-termination": 2,
    "post-function": -1000,
}


def available_on_server(names: frozenset[str]) -> dict[str, dict[str, object]]:
    """Bundled plugins ship with Gantry and carry its version. A custom plugin's version and
    priority live in its module, which only the plugin runtime loads: null here."""
    return {
        name: {"version": __version__ if name in BUNDLED_PRIORITIES else None, "priority": BUNDLED_PRIORITIES.get(name)}
        for name in sorted(names)
    }
