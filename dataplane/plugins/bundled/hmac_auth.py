"""hmac-auth: a consumer identified by an HMAC signature of the request (Kong 3.x's
kong/plugins/hmac-auth: the ``hmac username="", algorithm="", headers="", signature=""``
scheme in Authorization or Proxy-Authorization, its fields, defaults, priority, messages and
headers).

With ``validate_request_body`` the body's SHA-256 is compared with the Digest header. A body
that came with the request head is checked in access; one still arriving is checked once it is
whole (``kong.request.watch_body``) on a route that buffers its request body (the default),
before anything goes upstream. A route streaming its body upstream (``request_buffering``
false), or a body larger than ``client_body_buffer_size`` (kept on disk), cannot be checked,
so the request is refused, as Kong refuses a body it does not hold in memory.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import time
from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

from ._credentials import nginx_b64decode, set_anonymous, set_consumer

priority = 1030
version = "3.10.0"
no_consumer = True  # the signature names the credential, so the consumer: never scoped to one

ALGORITHMS = ("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")
NOT_VALID = "HMAC signature cannot be verified"
NOT_SAME = "HMAC signature does not match"
NO_DATE = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"


def _positive(value: float) -> str | None:
    return None if value > 0 else "value must be greater than 0"  # Kong's gt = 0


Schema = record(
    ("hide_credentials", Field("boolean", required=True, default=False)),
    ("clock_skew", Field("number", default=300, custom_validator=_positive)),
    ("anonymous", Field("string")),
    ("validate_request_body", Field("boolean", required=True, default=False)),
    ("enforce_headers", Field("array", elements=Field("string"), default=[])),
    ("algorithms", Field("array", elements=Field("string", one_of=ALGORITHMS), default=list(ALGORITHMS))),
    ("realm", Field("string")),
    required=True,
)

# Kong's pattern, unanchored and greedy as ngx.re.gmatch runs it
_PARAMS = re.compile(r'\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)"')
_DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384}
_DIGESTS["hmac-sha512"] = hashlib.sha512


class Refused(Exception):
    """Authentication failed, with Kong's message."""


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.hide = bool(config.get("hide_credentials"))
        self.clock_skew = config.get("clock_skew") or 300
        self.anonymous = config.get("anonymous")
        self.validate_body = bool(config.get("validate_request_body"))
        self.enforce = list(config.get("enforce_headers") or [])
        self.algorithms = frozenset(config.get("algorithms") or ())
        realm = config.get("realm")
        self.challenge = f'hmac realm="{realm}"' if realm else "hmac"

    def access(self, kong: Any) -> None:
        if self.anonymous and kong.client.get_credential() is not None:
            return  # an earlier auth plugin identified the client ("logical OR")
        try:
            found = self._authenticate(kong)
            if self.validate_body:
                body = kong.request.get_raw_body()
                if body is None:
                    self._watch_body(kong, *found)
                    return
                if not _digest_matches(kong, body):
                    raise Refused(NOT_SAME)
            self._identify(kong, *found)
        except Refused as refusal:
            self._refuse(kong, str(refusal))

    def _refuse(self, kong: Any, message: str) -> None:
        if self.anonymous:
            set_anonymous(kong, self.anonymous)
        else:
            kong.response.error(401, message, {"WWW-Authenticate": self.challenge})

    def _authenticate(self, kong: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The credential and its consumer once the signature is verified (the body not yet)."""
        request = kong.request
        authorization = request.get_header("authorization")
        proxy_authorization = request.get_header("proxy-authorization")
        if authorization is None and proxy_authorization is None:
            raise Refused("Unauthorized")
        if not (self._fresh(request.get_header("x-date")) or self._fresh(request.get_header("date"))):
            raise Refused(NO_DATE)

        params = _params(proxy_authorization)
        if params is None:
            params = _params(authorization)
            if self.hide:
                kong.service.request.clear_header("authorization")
        elif self.hide:
            kong.service.request.clear_header("proxy-authorization")
        if params is None:
            kong.log.debug("username or signature missing")
            raise Refused(NOT_VALID)
        username, algorithm, signed_headers, signature = params
        missing = [name for name in self.enforce if name not in signed_headers]
        if missing:
            kong.log.debug("enforced header not used for signature creation")
            raise Refused(NOT_VALID)
        if algorithm not in self.algorithms:
            kong.log.debug(f"algorithm {algorithm} not supported")
            raise Refused(NOT_VALID)

        credential = kong.db.hmacauth_credentials.select_by_username(username)
        if credential is None or not isinstance(credential.get("secret"), str):
            kong.log.debug("failed to retrieve credential for ", username)
            raise Refused(NOT_VALID)
        expected = hmac.new(
            credential["secret"].encode(), _signing_string(kong, signed_headers), _DIGESTS[algorithm]
        ).digest()
        given = nginx_b64decode(signature, urlsafe=False)
        if given is None or not hmac.compare_digest(expected, given):
            raise Refused(NOT_SAME)

        consumer_id = (credential.get("consumer") or {}).get("id")
        consumer = kong.client.load_consumer(consumer_id) if consumer_id else None
        if consumer is None:
            raise Refused(NOT_VALID)  # a credential without its consumer identifies no one
        return credential, consumer

    def _fresh(self, date: str | None) -> bool:
        if date is None:
            return False
        when = parse_http_time(date)
        return when is not None and abs(int(time.time()) - when) <= self.clock_skew  # ngx.time()

    def _identify(self, kong: Any, credential: dict[str, Any], consumer: dict[str, Any]) -> None:
        set_consumer(kong, consumer, credential, credential.get("username"))

    def _watch_body(self, kong: Any, credential: dict[str, Any], consumer: dict[str, Any]) -> None:
        """The body is still arriving: on a route that buffers it, it is checked once whole,
        before anything goes upstream. The signer is identified now, as the plugins after this
        one run before the body is whole; a body that then fails its digest is refused, with
        ``anonymous`` too (those plugins ran for the signer, not for the anonymous consumer)."""
        route = kong.router.get_route() or {}
        if route.get("request_buffering") is False:
            kong.log.debug("digest validation failed: the route streams its request body")
            raise Refused(NOT_SAME)
        judged: list[bool] = []  # the verdict when the body was whole already (kept in a file)

        def whole() -> None:
            # a body not held in memory (over client_body_buffer_size) cannot be checked
            body = kong.request.get_raw_body()
            matches = body is not None and _digest_matches(kong, body)
            if not identified:
                judged.append(matches)  # still in access: answered as any refusal there
            elif not matches:
                kong.log.debug("digest validation failed")
                kong.response.error(401, NOT_SAME, {"WWW-Authenticate": self.challenge})

        identified = False
        kong.request.watch_body(_arriving, whole)
        if judged and not judged[0]:
            kong.log.debug("digest validation failed")
            raise Refused(NOT_SAME)
        self._identify(kong, credential, consumer)
        identified = True


def _arriving(received: int) -> None:
    """Nothing to judge before the body is whole."""


def _params(header: str | None) -> tuple[str, str, list[str], str] | None:
    """username, algorithm, the signed header names and the signature; None without a
    username or signature, as Kong's validate_params refuses."""
    if header is None:
        return None
    match = _PARAMS.search(header)
    if match is None:
        return None
    username, algorithm, names, signature = match.groups()
    return username, algorithm, names.split(" "), signature


def _signing_string(kong: Any, names: list[str]) -> bytes:
    """Kong's signing string: each named header as ``name: value``, ``@request-target`` and
    ``request-line`` from the request as received, a header absent as ``name:``."""
    request = kong.request
    lines = []
    for name in names:
        value = request.get_header(name)
        if value is not None:
            lines.append(f"{name}: {value}")
        elif name == "@request-target":
            lines.append(f"{name}: {request.get_method().lower()} {request.get_path_with_query()}")
        elif name == "request-line":
            lines.append(
                f"{request.get_method()} {request.get_path_with_query()} HTTP/{float(request.get_http_version()):.1f}"
            )
        else:
            lines.append(f"{name}:")
    return "\n".join(lines).encode("latin-1", "replace")


def _digest_matches(kong: Any, body: bytes) -> bool:
    received = kong.request.get_header("digest")
    if received is None:
        return body == b""  # no digest is fine for no body only
    created = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    return hmac.compare_digest(created.encode(), received.encode("latin-1", "replace"))


# -- nginx's ngx_parse_http_time: RFC 1123, RFC 850 and asctime dates ------------------------------

_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_RFC1123 = re.compile(r"[A-Za-z]+, (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d)")
_RFC850 = re.compile(r"[A-Za-z]+, (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d)")
_ASCTIME = re.compile(r"[A-Za-z]+ ([A-Z][a-z]{2})  ?(\d\d?) (\d\d):(\d\d):(\d\d) (\d{4})")


def parse_http_time(value: str) -> int | None:
    """Seconds since the epoch of an HTTP date, or None when nginx would not read it."""
    match = _RFC1123.match(value)
    if match:
        day, month, year, hour, minute, second = match.groups()
    else:
        match = _RFC850.match(value)
        if match:
            day, month, year, hour, minute, second = match.groups()
            year = str(int(year) + (2000 if int(year) < 70 else 1900))
        else:
            match = _ASCTIME.match(value)
            if not match:
                return None
            month, day, hour, minute, second, year = match.groups()
    number = _MONTHS.get(month)
    fields = int(year), int(day), int(hour), int(minute), int(second)
    if number is None or fields[0] < 1970 or not 1 <= fields[1] <= 31 or fields[2] > 23 or fields[3] > 59:
        return None
    if fields[4] > 59 or fields[1] > calendar.monthrange(fields[0], number)[1]:
        return None
    return calendar.timegm((fields[0], number, fields[1], fields[2], fields[3], fields[4]))
