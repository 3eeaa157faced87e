"""cors: Cross-Origin Resource Sharing (Kong's kong/plugins/cors).

A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered 200 in access
with the Access-Control-Allow-* headers, unless ``preflight_continue`` sends it upstream; every
other response, the gateway's own included, gets Access-Control-Allow-Origin (and -Credentials,
-Expose-Headers) in header_filter. ``Vary: Origin`` goes with an origin that depends on the
request. How a configured origin matches the request's is ``Origins`` below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record
from dataplane.schema.messages import fmt_number

from ._common import compile_pcre

priority = 2000
version = "3.10.0"
no_consumer = True

METHODS = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_LITERAL = re.compile(r"[A-Za-z0-9.:/-]+")
_SCHEME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.-]*:")


def _asterisk_or_regex(value: str) -> str | None:
    if value == "*":
        return None
    try:
        compile_pcre(value)
    except re.error:
        return f"'{value}' is not a valid regex"
    return None


Schema = record(
    ("origins", Field("array", elements=Field("string", custom_validator=_asterisk_or_regex))),
    ("headers", Field("array", elements=Field("string"))),
    ("exposed_headers", Field("array", elements=Field("string"))),
    ("methods", Field("array", default=list(METHODS), elements=Field("string", one_of=METHODS))),
    ("max_age", Field("number")),
    ("credentials", Field("boolean", required=True, default=False)),
    ("private_network", Field("boolean", required=True, default=False)),
    ("preflight_continue", Field("boolean", required=True, default=False)),
    ("allow_origin_absent", Field("boolean", required=True, default=True)),
    required=True,
)


def normalize_origin(origin: str) -> tuple[str, str]:
    """(domain, host) as Kong compares origins: ``scheme://host[:port]`` with the scheme's default
    port dropped, and the host alone. A value without ``scheme://`` (``example.test``) is its own
    domain and host, as LuaSocket's url.parse finds no host in it."""
    rest = origin.partition("#")[0]
    scheme_match = _SCHEME.match(rest)
    scheme = scheme_match.group()[:-1] if scheme_match else None
    if scheme_match:
        rest = rest[scheme_match.end() :]
    if not rest.startswith("//"):
        return origin, origin
    authority = rest[2:].partition("/")[0]
    if "@" in authority:
        authority = authority.partition("@")[2]
    host, port = authority, None
    colon = authority.rfind(":")
    if colon >= 0 and "]" not in authority[colon:]:
        host, port = authority[:colon], authority[colon + 1 :]
    if not host:
        return origin, origin
    if (scheme, port) in (("http", "80"), ("https", "443")):
        port = None
    domain = (f"{scheme}://" if scheme else "") + host + (f":{port}" if port is not None else "")
    return domain, host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass(frozen=True, slots=True)
class _Entry:
    domain: str | None  # a literal origin, normalised
    regex: re.Pattern[str] | None  # else a pattern, anchored at both ends
    by_host: bool  # no ':' in it: compared with the request's host, not its scheme://host:port


class Origins:
    """The configured origins, compiled once per config, matched as Kong matches them:

    - none, or only ``*``: any origin (``*``);
    - one literal (letters, digits and ``.:/-`` only): always that value, whatever the request;
    - else, for a request with an Origin: ``*`` when the list holds ``*``; a literal matches the
      request's normalised origin exactly; anything else is a regex anchored at both ends,
      matched against the request's host when it has no ``:``, else its whole normalised origin.
    """

    __slots__ = ("any", "fixed", "wildcard", "entries")

    def __init__(self, origins: list[str] | None) -> None:
        origins = origins or []
        self.any = not origins or origins == ["*"]
        self.fixed = origins[0] if len(origins) == 1 and _LITERAL.fullmatch(origins[0]) else None
        self.wildcard = "*" in origins
        self.entries = tuple(_entry(origin) for origin in origins if origin != "*")

    def allow(self, request_origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin a request with this Origin gets (``*``: any), or None."""
        if self.any:
            return "*"
        if self.fixed is not None:
            return self.fixed
        if not request_origin:
            return None
        if self.wildcard:
            return "*"
        domain, host = normalize_origin(request_origin)
        for entry in self.entries:
            if entry.regex is not None:
                if entry.regex.match(host if entry.by_host else domain):
                    return domain
            elif entry.domain == domain:
                return domain
        return None


def _entry(origin: str) -> _Entry:
    by_host = ":" not in origin
    if _LITERAL.fullmatch(origin):
        return _Entry(normalize_origin(origin)[0], None, by_host)
    # Kong 0.x did not anchor origins: Kong anchors them, and keeps an anchor a user wrote
    pattern = origin.removeprefix("^")
    if not pattern.endswith("$"):
        pattern += "$"
    return _Entry(None, compile_pcre(pattern), by_host)


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.origins = Origins(config.get("origins"))
        self.headers = ",".join(config.get("headers") or ())
        self.exposed = ",".join(config.get("exposed_headers") or ())
        methods = config.get("methods")
        self.methods = ",".join(METHODS if methods is None else methods)
        max_age = config.get("max_age")
        self.max_age = None if max_age is None else fmt_number(max_age)
        self.credentials = bool(config.get("credentials"))
        self.private_network = bool(config.get("private_network"))
        self.preflight_continue = bool(config.get("preflight_continue"))
        self.origin_absent = bool(config.get("allow_origin_absent", True))

    def access(self, kong: Any) -> None:
        request = kong.request
        origin = request.get_header("origin")
        if (
            request.get_method() != "OPTIONS"
            or not origin
            or request.get_header("access-control-request-method") is None
        ):
            return
        kong.ctx.plugin["skip_response_headers"] = True  # the preflight's headers are set here, or upstream's
        if self.preflight_continue:
            return
        set_header = kong.response.set_header
        self._allow_origin(kong, origin, in_filter=False)
        if self.headers:
            set_header("Access-Control-Allow-Headers", self.headers)
        else:
            requested = request.get_header("access-control-request-headers")
            if requested is not None:
                set_header("Access-Control-Allow-Headers", requested)
            else:
                kong.response.clear_header("Access-Control-Allow-Headers")
        set_header("Access-Control-Allow-Methods", self.methods)
        if self.max_age is not None:
            set_header("Access-Control-Max-Age", self.max_age)
        if self.private_network and request.get_header("access-control-request-private-network") == "true":
            set_header("Access-Control-Allow-Private-Network", "true")
        kong.response.exit(200)

    def header_filter(self, kong: Any) -> None:
        if kong.ctx.plugin.get("skip_response_headers"):
            return
        origin = kong.request.get_header("origin")
        if not origin and not self.origin_absent:
            return
        self._allow_origin(kong, origin, in_filter=True)
        if self.exposed:
            kong.response.set_header("Access-Control-Expose-Headers", self.exposed)

    def _allow_origin(self, kong: Any, origin: str | None, *, in_filter: bool) -> None:
        """Kong's configure_origin and configure_credentials."""
        response = kong.response
        allowed = self.origins.allow(origin)
        allow_all = allowed == "*"
        if not self.origins.any:
            _vary(kong, in_filter)  # the answer depends on the request's Origin
        if allowed is not None:
            response.set_header("Access-Control-Allow-Origin", allowed)
        else:
            response.clear_header("Access-Control-Allow-Origin")
        if not self.credentials:
            return
        if not allow_all:
            response.set_header("Access-Control-Allow-Credentials", "true")
        elif origin:
            # credentials cannot go with '*': the request's own origin is allowed instead
            _vary(kong, in_filter)
            response.set_header("Access-Control-Allow-Origin", origin)
            response.set_header("Access-Control-Allow-Credentials", "true")


def _vary(kong: Any, in_filter: bool) -> None:
    # in header_filter the upstream's Vary is kept and Origin added to it
    if in_filter:
        kong.response.add_header("Vary", "Origin")
    else:
        kong.response.set_header("Vary", "Origin")
