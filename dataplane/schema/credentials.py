"""The credential entities of Kong's authentication plugins (the `daos.lua` of key-auth,
basic-auth, acl, jwt and hmac-auth) as data.

Each references a consumer and goes with it (`on_delete = "cascade"`, which the control plane's
table layout records). basic-auth's password is stored hashed: `transformations` say how, and
`dataplane.schema.transformations` says when.
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import typedefs as t
from .checks import Conditional
from .fields import EntitySchema, Field
from .transformations import Transformation

MAX_TTL = 100_000_000  # Kong's DAO_MAX_TTL, seconds

_consumer = Field("foreign", reference="consumers", required=True)
_head = (("id", t.uuid), ("created_at", t.auto_timestamp_s), ("consumer", _consumer))

# ------------------------------------------------------------------ key-auth

KEYAUTH_CREDENTIALS = EntitySchema(
    "keyauth_credentials",
    endpoint_key="key",
    cache_key=("key",),
    ttl=True,
    fields=(
        *_head,
        ("key", Field("string", unique=True, auto=True)),
        ("tags", t.tags),
        # Kong takes it as a DAO option, a whole number of seconds (kong/db/dao/init.lua)
        ("ttl", Field("integer", between=(0, MAX_TTL))),
    ),
)

# ------------------------------------------------------------------ basic-auth


def hash_password(consumer_id: str, password: str | None) -> str:
    """basic-auth's stored password: the hex SHA-1 of the password followed by the consumer's
    id (the id alone when there is no password), as Kong's basic-auth crypto module."""
    salted = consumer_id if password is None else password + consumer_id
    return hashlib.sha1(salted.encode()).hexdigest()


def _hash_on_write(password: str, consumer: Any) -> dict[str, Any]:
    return {"password": hash_password(consumer, password)}


BASICAUTH_CREDENTIALS = EntitySchema(
    "basicauth_credentials",
    endpoint_key="username",
    cache_key=("username",),
    fields=(
        *_head,
        ("username", Field("string", required=True, unique=True)),
        ("password", Field("string", required=True)),
        ("tags", t.tags),
    ),
    transformations=(Transformation(inputs=("password",), needs=("consumer.id",), on_write=_hash_on_write),),
)

# ------------------------------------------------------------------ acl

ACLS = EntitySchema(
    "acls",
    cache_key=("consumer", "group"),
    fields=(
        *_head,
        ("group", Field("string", required=True)),
        ("tags", t.tags),
    ),
)

# ------------------------------------------------------------------ jwt

JWT_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
# the algorithms whose credential must carry the public key that verifies a token
_KEYED = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")


def _load_any_key(data: bytes) -> object:
    """A public or private key in PEM or DER, of any type; raises when none parses."""
    from cryptography.hazmat.primitives import serialization

    loaders = (
        serialization.load_pem_public_key,
        lambda b: serialization.load_pem_private_key(b, password=None),
        serialization.load_der_public_key,
        lambda b: serialization.load_der_private_key(b, password=None),
    )
    for load in loaders:
        try:
            return load(data)
        except Exception:  # malformed, unsupported or encrypted: try the next form
            continue
    raise ValueError("no key")


def valid_key(value: str) -> str | None:
    """Kong's check of `rsa_public_key` (an OpenSSL key that loads): None, or its message."""
    try:
        _load_any_key(value.encode("utf-8", "surrogateescape"))
    except ValueError:
        return "invalid key"
    return None


JWT_SECRETS = EntitySchema(
    "jwt_secrets",
    endpoint_key="key",
    cache_key=("key",),
    fields=(
        *_head,
        ("key", Field("string", unique=True, auto=True)),
        ("secret", Field("string", auto=True)),
        ("rsa_public_key", Field("string")),
        ("algorithm", Field("string", default="HS256", one_of=JWT_ALGORITHMS)),
        ("tags", t.tags),
    ),
    entity_checks=(
        Conditional(
            "algorithm",
            # the message is never shown: a failed `if_match` only skips the check
            {"match_any": (tuple(f"^{a}$" for a in _KEYED), "not a keyed algorithm")},
            "rsa_public_key",
            {"required": True, "custom_validator": valid_key},
        ),
    ),
)

# ------------------------------------------------------------------ hmac-auth

HMACAUTH_CREDENTIALS = EntitySchema(
    "hmacauth_credentials",
    endpoint_key="username",
    cache_key=("username",),
    fields=(
        *_head,
        ("username", Field("string", required=True, unique=True)),
        ("secret", Field("string", auto=True)),
        ("tags", t.tags),
    ),
)

# In the flat config's order, after consumers (docs/internals.md).
CREDENTIALS: tuple[EntitySchema, ...] = (
    KEYAUTH_CREDENTIALS,
    BASICAUTH_CREDENTIALS,
    ACLS,
    JWT_SECRETS,
    HMACAUTH_CREDENTIALS,
)
