"""basic-auth: a consumer identified by a username and password in the Authorization or
Proxy-Authorization header (Kong's kong/plugins/basic-auth: its fields, defaults, messages,
headers and the order it reads the two headers in).

Credentials are the configuration's ``basicauth_credentials``, looked up by username in an index
built once per config version. Passwords are stored as Kong stores them: the hex SHA-1 of the
password followed by the consumer's id; the hash of what the client sent is compared with the
stored one in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from dataplane.schema import Field
from dataplane.schema.fields import record

from ._credentials import nginx_b64decode, set_anonymous, set_consumer

priority = 1100
version = "3.10.0"
no_consumer = True  # a credential identifies the consumer: the plugin is never scoped to one

UNAUTHORIZED = "Unauthorized"  # Kong 3.x answers every refusal with it

Schema = record(
    ("anonymous", Field("string")),
    ("hide_credentials", Field("boolean", required=True, default=False)),
    ("realm", Field("string", required=True, default="service")),
    required=True,
)

# Kong searches the value (not anchored) for the scheme and takes the rest as the token
_SCHEME = re.compile(r"\s*[Bb]asic\s*(.+)", re.ASCII)
# user and password: the first run of non-colons followed by a colon, anywhere in the decoded
# bytes, and what follows up to a line end, as Kong's PCRE match reads them
_USER_PASSWORD = re.compile(rb"([^:]+):(.*)")


def _hash_password(password: bytes, consumer_id: str) -> str:
    """Kong's stored form of a basic-auth password (crypto.lua): hex SHA-1 of password .. id."""
    return hashlib.sha1(password + consumer_id.encode()).hexdigest()


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.anonymous: str | None = config.get("anonymous")
        self.hide = bool(config.get("hide_credentials"))
        self.challenge = f'Basic realm="{config.get("realm") or "service"}"'

    def access(self, kong: Any) -> None:
        if self.anonymous and kong.client.get_credential() is not None:
            return  # an earlier auth plugin identified the client ("logical OR")
        if self._authenticate(kong):
            return
        if self.anonymous:
            set_anonymous(kong, self.anonymous)
            return
        kong.response.error(401, UNAUTHORIZED, {"WWW-Authenticate": self.challenge})

    def _authenticate(self, kong: Any) -> bool:
        """True once the client is identified. Proxy-Authorization is tried first; Authorization
        only when it names no known username, as in Kong."""
        authorization = kong.request.get_header("authorization")
        proxy_authorization = kong.request.get_header("proxy-authorization")
        if authorization is None and proxy_authorization is None:
            return False
        credential = None
        username, password = self._read(kong, "proxy-authorization", proxy_authorization)
        if username is not None and password is not None:
            credential = _credential(kong, username)
        if credential is None:
            username, password = self._read(kong, "authorization", authorization)
            if username is None or password is None:
                return False
            credential = _credential(kong, username)
        if credential is None or password is None or not _password_matches(credential, password):
            return False
        consumer_id = (credential.get("consumer") or {}).get("id")
        consumer = kong.client.load_consumer(consumer_id) if consumer_id else None
        if consumer is None:
            return False  # a credential's consumer always exists in a valid configuration
        set_consumer(kong, consumer, credential, credential.get("username"))
        return True

    def _read(self, kong: Any, header: str, value: str | None) -> tuple[bytes | None, bytes | None]:
        """The username and password of one header, or Nones. With hide_credentials the header
        is removed, except when its token decoded to no ``user:password`` (Kong returns before
        removing it then)."""
        username = password = None
        if value is not None:
            scheme = _SCHEME.search(value)
            decoded = nginx_b64decode(scheme.group(1), urlsafe=False) if scheme else None
            if decoded is not None:
                parts = _USER_PASSWORD.search(decoded)
                if parts is None:
                    kong.log.err("header has unrecognized format")
                    return None, None
                username, password = parts.group(1), parts.group(2)
        if self.hide:
            kong.service.request.clear_header(header)
        return username, password


def _credential(kong: Any, username: bytes) -> dict[str, Any] | None:
    try:
        name = username.decode()
    except UnicodeDecodeError:
        return None  # usernames are stored as UTF-8 text: these bytes name none of them
    credential: dict[str, Any] | None = kong.db.basicauth_credentials.select_by_username(name)
    return credential


def _password_matches(credential: dict[str, Any], password: bytes) -> bool:
    stored = credential.get("password")
    consumer_id = (credential.get("consumer") or {}).get("id")
    if not isinstance(stored, str) or not isinstance(consumer_id, str):
        return False
    return hmac.compare_digest(stored.encode(), _hash_password(password, consumer_id).encode())
