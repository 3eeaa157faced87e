"""jwt: a consumer identified by a signed JSON Web Token (Kong's kong/plugins/jwt: its fields,
defaults, priority, messages and headers).

The token is read and judged as Kong reads it (three base64url parts, the header's ``alg`` one
of Kong's and equal to the credential's ``algorithm``), so every refusal has Kong's message;
the signature itself is checked by ``hmac`` (HS*) and ``cryptography`` (RS*, PS*, ES*, EdDSA).
Credentials are ``jwt_secrets`` looked up by ``key`` in the config version's index; public keys
are parsed once and kept on the plugin object, by their PEM text (a credential whose key is
replaced has new text, so a stale key is never used).
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dataplane.schema import Field
from dataplane.schema.checks import Conditional
from dataplane.schema.fields import record

from ._credentials import nginx_b64decode, set_anonymous, set_consumer

priority = 1450
version = "3.10.0"
no_consumer = True  # the token names the credential, so the consumer: never scoped to one

ALGORITHMS = (
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
    "PS256", "PS384", "PS512", "EdDSA",
)  # fmt: skip

Schema = record(
    ("uri_param_names", Field("set", elements=Field("string"), default=["jwt"])),
    ("cookie_names", Field("set", elements=Field("string"), default=[])),
    ("key_claim_name", Field("string", default="iss")),
    ("secret_is_base64", Field("boolean", required=True, default=False)),
    ("claims_to_verify", Field("set", elements=Field("string", one_of=("exp", "nbf")))),
    ("anonymous", Field("string")),
    ("run_on_preflight", Field("boolean", required=True, default=True)),
    ("maximum_expiration", Field("number", default=0, between=(0, 31536000))),
    ("header_names", Field("set", elements=Field("string"), default=["authorization"])),
    ("realm", Field("string")),
    required=True,
    entity_checks=(
        # Kong's plugin-level conditional: a maximum lifetime is only checked on a verified exp
        Conditional(
            "maximum_expiration",
            {"not_one_of": (0,)},
            "claims_to_verify",
            {"contains": "exp"},
            then_err="failed conditional validation given value of field 'config.maximum_expiration'",
        ),
    ),
)

_BEARER = re.compile(r"\s*[Bb]earer\s+(.+)")  # unanchored, as Kong's ngx.re.gmatch finds it
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC_DIGESTS = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}  # hmac.digest's names
_ES_SIZES = {"ES256": 64, "ES384": 96, "ES512": 132}  # r || s, RFC 7518 3.4
_KEY_CACHE_LIMIT = 10_000  # parsed public keys kept per plugin object
# tokens parsed (and their verification) kept per plugin object: a client sends its token with
# every request until it expires; a longer token is parsed every time
_TOKEN_CACHE_LIMIT = 4096
_TOKEN_CACHE_LENGTH = 4096

Key = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey


class Refusal(Exception):
    """Authentication failed: the status, Kong's body and its WWW-Authenticate header."""

    def __init__(self, body: dict[str, Any], challenge: str | None, status: int = 401) -> None:
        self.body = body
        self.challenge = challenge
        self.status = status


class Token:
    """A token as Kong's jwt_parser decodes it; raises ValueError with Kong's reason."""

    __slots__ = ("raw", "signed", "header", "claims", "signature", "verified")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        parts = raw.split(".", 2)  # a third dot stays in the signature, which then fails to decode
        if len(parts) < 3:
            raise ValueError("invalid JSON")
        header_64, claims_64, signature_64 = parts
        header, claims = _json_part(header_64), _json_part(claims_64)
        alg = header.get("alg") if isinstance(header, dict) else None
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise ValueError("invalid alg")
        if isinstance(claims, list):
            claims = {}  # a Lua table all the same: it has no claim
        if not isinstance(claims, dict):
            raise ValueError("invalid claims")
        signature = nginx_b64decode(signature_64, urlsafe=True)
        if signature is None:
            raise ValueError("invalid signature")
        self.signed = f"{header_64}.{claims_64}".encode("latin-1", "replace")
        self.header: dict[str, Any] = header
        self.claims: dict[str, Any] = claims
        self.signature = signature
        # (algorithm, secret or public key text) its signature was found valid with: a token
        # sent again is not verified again with the same key
        self.verified: tuple[str, str] | None = None


def _json_part(part: str) -> Any:
    decoded = nginx_b64decode(part, urlsafe=True)
    if decoded is None:
        raise ValueError("invalid JSON")
    try:
        return orjson.loads(decoded)
    except orjson.JSONDecodeError:
        raise ValueError("invalid JSON") from None


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.uri_params = list(config.get("uri_param_names") or [])
        self.cookies = list(config.get("cookie_names") or [])
        self.headers = [name.lower() for name in config.get("header_names") or []]
        self.key_claim = config.get("key_claim_name") or "iss"
        self.secret_is_base64 = bool(config.get("secret_is_base64"))
        self.claims_to_verify = list(config.get("claims_to_verify") or [])
        self.maximum_expiration = config.get("maximum_expiration") or 0
        self.anonymous = config.get("anonymous")
        self.on_preflight = config.get("run_on_preflight", True)
        realm = config.get("realm")
        self.challenge = f'Bearer realm="{realm}"' if realm else "Bearer"
        self.challenge_error = f'{self.challenge}, error="invalid_token"' if realm else 'Bearer error="invalid_token"'
        self.keys: dict[str, Key | None] = {}  # PEM text -> parsed key (None: not a usable key)
        self.parsed: dict[str, Token] = {}  # the token as sent -> what it decoded to

    def access(self, kong: Any) -> None:
        if not self.on_preflight and kong.request.get_method() == "OPTIONS":
            return
        if self.anonymous and kong.client.get_credential() is not None:
            return  # an earlier auth plugin identified the client ("logical OR")
        try:
            self._authenticate(kong)
        except Refusal as refusal:
            if self.anonymous:
                set_anonymous(kong, self.anonymous)
                return
            headers = {"WWW-Authenticate": refusal.challenge} if refusal.challenge else None
            kong.response.exit(refusal.status, refusal.body, headers)

    # -- the steps of Kong's do_authentication -------------------------------------------------

    def _authenticate(self, kong: Any) -> None:
        tokens = self._tokens(kong)
        if not tokens:
            raise Refusal({"message": "Unauthorized"}, self.challenge)
        if len(tokens) > 1:
            raise self._invalid("Multiple tokens provided")
        token = self._token(tokens[0])

        name = self.key_claim
        key = token.claims.get(name)
        if key is None or key is False:
            key = token.header.get(name)  # Lua's `claims[name] or header[name]`
        if key is None or key is False:
            raise self._invalid(f"No mandatory '{name}' in claims")
        if key == "":
            raise self._invalid(f"Invalid '{name}' in claims")
        credential = kong.db.jwt_secrets.select_by_key(key) if isinstance(key, str) else None
        if credential is None:
            raise self._invalid(f"No credentials found for given '{name}'")

        algorithm = credential.get("algorithm") or "HS256"
        if token.header["alg"] != algorithm:
            raise self._invalid("Invalid algorithm")
        if not self._verified(kong, token, credential, algorithm):
            raise self._invalid("Invalid signature")

        errors = self._claim_errors(token.claims)
        if errors:
            raise Refusal(errors, self.challenge_error)

        consumer_id = (credential.get("consumer") or {}).get("id")
        consumer = kong.client.load_consumer(consumer_id, True) if consumer_id else None
        if consumer is None:
            raise Refusal({"message": f"Could not find consumer for '{name}={key}'"}, None)
        set_consumer(kong, consumer, credential, credential.get("key"))
        kong.ctx.shared["authenticated_jwt_token"] = token.raw

    def _token(self, raw: str) -> Token:
        """The token decoded, from the tokens decoded before when it was seen already (the
        claims are read, never changed; the time claims are judged on every request)."""
        token = self.parsed.get(raw)
        if token is not None:
            return token
        try:
            token = Token(raw)
        except ValueError as reason:
            raise self._invalid(f"Bad token; {reason}") from None
        if len(raw) <= _TOKEN_CACHE_LENGTH:
            if len(self.parsed) >= _TOKEN_CACHE_LIMIT:
                self.parsed.clear()
            self.parsed[raw] = token
        return token

    def _invalid(self, message: str) -> Refusal:
        return Refusal({"message": message}, self.challenge_error)

    def _tokens(self, kong: Any) -> list[str]:
        """Every distinct token of the request: query arguments, then cookies, then headers."""
        found: dict[str, None] = {}  # insertion-ordered set
        request = kong.request
        if self.uri_params and request.get_raw_query():
            query = request.get_query()
            for name in self.uri_params:
                value = query.get(name)
                for one in value if isinstance(value, list) else [value]:
                    if isinstance(one, str) and one:
                        found[one] = None
        if self.cookies:
            jar = _cookies(request.get_headers().get("cookie"))
            for name in self.cookies:
                value = jar.get(name.lower())
                if value:
                    found[value] = None
        for name in self.headers:
            value = request.get_header(name)  # Kong reads the first of a repeated header
            if value is None:
                continue
            match = _BEARER.search(value)
            if match and match.group(1):
                found[match.group(1)] = None
        return list(found)

    def _claim_errors(self, claims: dict[str, Any]) -> dict[str, str]:
        now = int(time.time())  # ngx.time(): whole seconds
        errors: dict[str, str] = {}
        for claim in self.claims_to_verify:
            value = claims.get(claim)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                errors[claim] = "must be a number"
            elif claim == "exp" and value <= now:
                errors[claim] = "token expired"
            elif claim == "nbf" and value > now:
                errors[claim] = "token not valid yet"
        if errors or self.maximum_expiration <= 0:
            return errors
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp - now > self.maximum_expiration:
            return {"exp": "exceeds maximum allowed expiration"}
        return {}

    # -- signatures --------------------------------------------------------------------------

    def _verified(self, kong: Any, token: Token, credential: dict[str, Any], algorithm: str) -> bool:
        symmetric = algorithm.startswith("HS")
        material = credential.get("secret" if symmetric else "rsa_public_key")
        if not isinstance(material, str) or not (symmetric or material):
            raise self._invalid("Invalid key/secret")
        if token.verified is not None and token.verified == (algorithm, material):
            return True  # this token, verified with this very key before
        if symmetric:
            key = _decoded_secret(material) if self.secret_is_base64 else material.encode()
            if key is None:
                raise self._invalid("Invalid key/secret")
            valid = hmac.compare_digest(hmac.digest(key, token.signed, _HMAC_DIGESTS[algorithm]), token.signature)
        else:
            public = self._public_key(kong, material)
            if public is None:
                raise self._invalid("Invalid key/secret")
            try:
                _verify(public, algorithm, token.signature, token.signed)
                valid = True
            except (InvalidSignature, ValueError, TypeError):
                valid = False
        if valid:
            token.verified = (algorithm, material)
        return valid

    def _public_key(self, kong: Any, pem: str) -> Key | None:
        if pem in self.keys:
            return self.keys[pem]
        key = _load_key(pem)
        if key is None:
            kong.log.err("the rsa_public_key of a jwt credential is not a usable public key")
        if len(self.keys) >= _KEY_CACHE_LIMIT:
            self.keys.clear()  # keys of credentials long gone go with the rest
        self.keys[pem] = key
        return key


def _verify(public: Key, algorithm: str, signature: bytes, data: bytes) -> None:
    """Raises InvalidSignature (or ValueError/TypeError for a key of another kind)."""
    family, size = algorithm[:2], algorithm[2:]
    if family == "RS" and isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), _HASHES[size]())
    elif family == "PS" and isinstance(public, rsa.RSAPublicKey):
        # salt length as the signature says (OpenSSL's verification default, Kong's too)
        pss = padding.PSS(mgf=padding.MGF1(_HASHES[size]()), salt_length=padding.PSS.AUTO)
        public.verify(signature, data, pss, _HASHES[size]())
    elif family == "ES" and isinstance(public, ec.EllipticCurvePublicKey):
        width = _ES_SIZES[algorithm]
        if len(signature) != width:
            raise InvalidSignature
        half = width // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        public.verify(der, data, ec.ECDSA(_HASHES[size]()))
    elif algorithm == "EdDSA" and isinstance(public, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        public.verify(signature, data)
    else:
        raise InvalidSignature  # a key of another kind than the algorithm's


def _load_key(pem: str) -> Key | None:
    """A PEM public key, or the public half of a PEM private key (OpenSSL's pkey.new takes both)."""
    data = pem.encode()
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return None
    if isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return key
    return None


def _decoded_secret(secret: str) -> bytes | None:
    """secret_is_base64: Kong decodes with the url-safe alphabet; a secret written with the
    standard one (``+``, ``/``) is read too, where Kong would refuse every token."""
    return nginx_b64decode(secret, urlsafe=True) or nginx_b64decode(secret, urlsafe=False)


def _cookies(header: Any) -> dict[str, str]:
    """The Cookie header(s) as nginx's $cookie_NAME reads them: the first cookie of a name,
    names compared without case (keys lower-cased)."""
    jar: dict[str, str] = {}
    for line in header if isinstance(header, list) else [header] if isinstance(header, str) else []:
        for part in line.split(";"):
            name, eq, value = part.strip().partition("=")
            name = name.lower()
            if eq and name not in jar:
                jar[name] = value.strip()
    return jar
