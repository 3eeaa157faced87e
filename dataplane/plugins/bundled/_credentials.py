"""What the credential plugins (basic-auth, jwt, hmac-auth) share: Kong's set_consumer and its anonymous
fallback, and base64 decoding as nginx does it."""

from __future__ import annotations

import binascii
from typing import Any

_URLSAFE = bytes.maketrans(b"-_", b"+/")


def nginx_b64decode(data: str | bytes, *, urlsafe: bool) -> bytes | None:
    """nginx's ngx_decode_base64(url): everything from the first '=' on is ignored, any other
    character outside the alphabet fails, and so does a length of 4n+1; None when it fails.
    (binascii's strict mode refuses what is outside the standard alphabet, as nginx does, and
    takes non-zero trailing bits, as nginx does.)"""
    raw = data.encode("latin-1", "replace") if isinstance(data, str) else data
    raw = raw.partition(b"=")[0]
    if len(raw) % 4 == 1:
        return None
    if urlsafe:
        if b"+" in raw or b"/" in raw:
            return None
        raw = raw.translate(_URLSAFE)
    try:
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except binascii.Error:
        return None


def set_consumer(kong: Any, consumer: dict[str, Any], credential: dict[str, Any] | None, identifier: Any) -> None:
    """Kong's set_consumer of jwt and hmac-auth: kong.client.authenticate, then the X-Consumer-*
    headers upstream; ``identifier`` is the credential's field X-Credential-Identifier carries
    (jwt's key, hmac-auth's username)."""
    kong.client.authenticate(consumer, credential)
    request = kong.service.request
    for header, value in (
        ("X-Consumer-ID", consumer.get("id")),
        ("X-Consumer-Custom-ID", consumer.get("custom_id")),
        ("X-Consumer-Username", consumer.get("username")),
        ("X-Credential-Identifier", identifier if credential is not None else None),
    ):
        if value is not None:
            request.set_header(header, value)
        else:
            request.clear_header(header)
    if credential is None:
        request.set_header("X-Anonymous-Consumer", "true")
    else:
        request.clear_header("X-Anonymous-Consumer")


def set_anonymous(kong: Any, anonymous: str) -> dict[str, Any] | None:
    """The anonymous consumer (by id, else username) set as the client, as Kong's logical OR
    does after a failed authentication; Kong's 500 when it does not exist."""
    consumer = kong.client.load_consumer(anonymous, True)
    if consumer is None:
        message = f"anonymous consumer {anonymous} is configured but doesn't exist"
        kong.log.err(message)
        kong.response.error(500, message)
        return None
    set_consumer(kong, consumer, None, None)
    return consumer
