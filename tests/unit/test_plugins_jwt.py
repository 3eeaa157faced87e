"""The jwt plugin in-process (Kong's spec/03-plugins/16-jwt behaviours): token sources, Kong's
messages, every algorithm with keys made here, claims, anonymous and bad input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from dataplane.plugins.bundled import jwt as jwt_plugin, key_auth
from dataplane.plugins.testing import PluginConfigError, PluginHarness, Request

CONSUMER = {"id": "c0000000-0000-4000-8000-000000000001", "username": "jwt_tests_consumer", "custom_id": "cust-1"}
ANONYMOUS = {"id": "c0000000-0000-4000-8000-000000000002", "username": "no-body"}
SECRET = "a36c3049b36249a3c9f8891cb127243c"

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem(private: Any) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(claims: Any, key: Any, alg: str = "HS256", header: dict[str, Any] | None = None) -> str:
    """A token signed as a client would (the test's own encoder, through cryptography)."""
    head = b64(orjson.dumps(header or {"typ": "JWT", "alg": alg}))
    body = b64(orjson.dumps(claims))
    data = f"{head}.{body}".encode()
    family, size = alg[:2], alg[2:]
    if family == "HS":
        signature = hmac.new(key if isinstance(key, bytes) else key.encode(), data, getattr(hashlib, f"sha{size}"))
        raw = signature.digest()
    elif family == "RS":
        raw = key.sign(data, padding.PKCS1v15(), HASHES[size]())
    elif family == "PS":
        raw = key.sign(data, padding.PSS(padding.MGF1(HASHES[size]()), HASHES[size].digest_size), HASHES[size]())
    elif family == "ES":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(HASHES[size]())))
        width = {"256": 32, "384": 48, "512": 66}[size]
        raw = r.to_bytes(width, "big") + s.to_bytes(width, "big")
    else:
        raw = key.sign(data)
    return f"{head}.{body}.{b64(raw)}"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "RS": rsa_key,
        "PS": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES512": ec.generate_private_key(ec.SECP521R1()),
        "Ed25519": ed25519.Ed25519PrivateKey.generate(),
        "Ed448": ed448.Ed448PrivateKey.generate(),
    }


def secret(key: str = "issuer-1", consumer: dict[str, Any] = CONSUMER, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"5ec00000-0000-4000-8000-{abs(hash(key)) % 10**12:012d}",
        "key": key,
        "secret": SECRET,
        "algorithm": "HS256",
        "consumer": {"id": consumer["id"]},
        **fields,
    }


def harness(*credentials: dict[str, Any], plugins: tuple[Any, ...] = (jwt_plugin,), **entities: Any) -> PluginHarness:
    return PluginHarness(
        *plugins,
        entities={
            "consumers": [CONSUMER, ANONYMOUS],
            "jwt_secrets": list(credentials) or [secret()],
            **entities,
        },
    )


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "issuer-1", "nbf": now, "iat": now, "exp": now + 3600, **extra}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run(h: PluginHarness, headers: Any = (), path: str = "/request", method: str = "GET", **config: Any) -> Any:
    return h.run(Request(method, path, headers), config=config)


# -- refusals -------------------------------------------------------------------------------


def test_no_token_is_401_unauthorized_with_a_bare_challenge() -> None:
    result = run(harness())
    assert result.response.status == 401
    assert result.response.json() == {"message": "Unauthorized"}
    assert result.response.headers["WWW-Authenticate"] == "Bearer"
    assert result.upstream is None


def test_no_key_claim() -> None:
    token = sign({k: v for k, v in claims().items() if k != "iss"}, "foo")
    result = run(harness(), bearer(token))
    assert (result.response.status, result.response.json()) == (401, {"message": "No mandatory 'iss' in claims"})
    assert result.response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_empty_key_claim() -> None:
    result = run(harness(), bearer(sign(claims(iss=""), "foo")))
    assert result.response.json() == {"message": "Invalid 'iss' in claims"}


def test_unknown_key() -> None:
    result = run(harness(), bearer(sign(claims(iss="123456789"), SECRET)))
    assert result.response.json() == {"message": "No credentials found for given 'iss'"}
    assert result.response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("iss", [12, 1.5, True, ["issuer-1"], {"a": 1}])
def test_a_key_claim_that_is_not_a_string_finds_no_credential(iss: Any) -> None:
    result = run(harness(), bearer(sign(claims(iss=iss), SECRET)))
    assert result.response.status == 401
    assert result.response.json() == {"message": "No credentials found for given 'iss'"}


def test_wrong_secret_is_invalid_signature() -> None:
    result = run(harness(), bearer(sign(claims(), "foo")))
    assert (result.response.status, result.response.json()) == (401, {"message": "Invalid signature"})


def test_tampered_claims_are_an_invalid_signature() -> None:
    head, _, sig = sign(claims(), SECRET).split(".")
    forged = b64(orjson.dumps(claims(admin=True)))
    result = run(harness(), bearer(f"{head}.{forged}.{sig}"))
    assert result.response.json() == {"message": "Invalid signature"}


def test_alg_other_than_the_credentials_is_invalid_algorithm() -> None:
    token = sign(claims(), SECRET, "HS256", header={"typ": "JWT", "alg": "RS256"})
    result = run(harness(), bearer(token))
    assert result.response.json() == {"message": "Invalid algorithm"}


def test_alg_none_is_a_bad_token() -> None:
    head = b64(orjson.dumps({"alg": "none"}))
    token = f"{head}.{b64(orjson.dumps(claims()))}."
    result = run(harness(), bearer(token))
    assert result.response.json() == {"message": "Bad token; invalid alg"}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("invalid.jwt.token", "invalid JSON"),
        ("onlyonepart", "invalid JSON"),
        ("two.parts", "invalid JSON"),
        ("....", "invalid JSON"),
        ("%%%.%%%.%%%", "invalid JSON"),
        (f"{b64(b'[1]')}.{b64(b'{}')}.", "invalid alg"),
        (f"{b64(b'7')}.{b64(b'{}')}.", "invalid alg"),
        (f"{b64(b'null')}.{b64(b'{}')}.", "invalid alg"),
        (f"{b64(orjson.dumps({'alg': 5}))}.{b64(b'{}')}.", "invalid alg"),
        (f"{b64(orjson.dumps({'alg': 'HS256'}))}.{b64(b'7')}.", "invalid claims"),
        (f"{b64(orjson.dumps({'alg': 'HS256'}))}.{b64(b'null')}.", "invalid claims"),
        (f"{b64(orjson.dumps({'alg': 'HS256'}))}.{b64(b'{}')}.a.b", "invalid signature"),
        (f"{b64(orjson.dumps({'alg': 'HS256'}))}.{b64(b'{}')}.%%", "invalid signature"),
        (f"{b64(b'{not json')}.{b64(b'{}')}.", "invalid JSON"),
        (f"{b64(bytes([0xFF, 0xFE]))}.{b64(b'{}')}.", "invalid JSON"),
    ],
)
def test_malformed_tokens_are_bad_tokens_never_500(token: str, reason: str) -> None:
    result = run(harness(), bearer(token))
    assert result.response.status == 401
    assert result.response.json() == {"message": f"Bad token; {reason}"}
    assert result.response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_corrupted_cookie_token_with_realm() -> None:
    token = "no-way-this-works" + sign(claims(), SECRET)
    result = run(harness(), {"Cookie": f"silly={token}; path=/;domain=.jwt9.test"}, cookie_names=["silly", "crumble"],
                 realm="test-jwt")  # fmt: skip
    assert result.response.body == b'{"message":"Bad token; invalid JSON"}'
    assert result.response.headers["WWW-Authenticate"] == 'Bearer realm="test-jwt", error="invalid_token"'


def test_no_token_with_realm() -> None:
    result = run(harness(), realm="test-jwt", cookie_names=["silly"])
    assert result.response.headers["WWW-Authenticate"] == 'Bearer realm="test-jwt"'


def test_different_tokens_are_multiple_tokens() -> None:
    token = sign(claims(), SECRET)
    result = run(harness(), bearer("invalid.jwt.token"), path=f"/request?jwt={token}")
    assert (result.response.status, result.response.json()) == (401, {"message": "Multiple tokens provided"})
    assert result.response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_same_token_twice_is_one_token() -> None:
    token = sign(claims(), SECRET)
    result = run(harness(), bearer(token), path=f"/request?jwt={token}&jwt={token}")
    assert result.response.status == 200


def test_repeated_query_argument_with_different_tokens() -> None:
    token = sign(claims(), SECRET)
    result = run(harness(), path=f"/request?jwt={token}&jwt=other")
    assert result.response.json() == {"message": "Multiple tokens provided"}


@pytest.mark.parametrize("value", ["Basic abc", "Bearer", "Bearer ", "token-without-scheme", ""])
def test_authorization_without_a_bearer_token_is_no_token(value: str) -> None:
    result = run(harness(), {"Authorization": value})
    assert result.response.json() == {"message": "Unauthorized"}


# -- accepted tokens ------------------------------------------------------------------------


def test_hs256_proxies_with_consumer_headers_and_the_token_shared() -> None:
    token = sign(claims(), SECRET)
    result = run(harness(), bearer(token))
    assert result.response.status == 200
    up = result.upstream.headers
    assert up["authorization"] == f"Bearer {token}"
    assert up["x-consumer-id"] == CONSUMER["id"]
    assert up["x-consumer-username"] == "jwt_tests_consumer"
    assert up["x-consumer-custom-id"] == "cust-1"
    assert up["x-credential-identifier"] == "issuer-1"  # the credential's key, as Kong sets it
    assert "x-anonymous-consumer" not in up
    assert result.shared["authenticated_jwt_token"] == token
    assert result.consumer["id"] == CONSUMER["id"]
    assert result.credential["key"] == "issuer-1"


def test_client_supplied_consumer_headers_are_replaced() -> None:
    token = sign(claims(), SECRET)
    headers = {**bearer(token), "X-Anonymous-Consumer": "true", "X-Consumer-Custom-ID": "forged"}
    consumer = {k: v for k, v in CONSUMER.items() if k != "custom_id"}
    result = run(harness(consumers=[consumer, ANONYMOUS]), headers)
    assert "x-anonymous-consumer" not in result.upstream.headers
    assert "x-consumer-custom-id" not in result.upstream.headers


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_hs384_hs512(alg: str) -> None:
    h = harness(secret(algorithm=alg, secret="a-longer-secret-for-" + alg))
    result = run(h, bearer(sign(claims(), "a-longer-secret-for-" + alg, alg)))
    assert result.response.status == 200


def test_token_in_query_custom_param_cookie_and_custom_header() -> None:
    token = sign(claims(), SECRET)
    h = harness()
    assert run(h, path=f"/request/?jwt={token}").response.status == 200
    assert run(h, path=f"/request/?token={token}", uri_param_names=["token", "jwt"]).response.status == 200
    cookie = {"Cookie": f"crumble={token}; path=/;domain=.jwt9.test"}
    assert run(h, cookie, cookie_names=["silly", "crumble"]).response.status == 200
    custom = {"CustomAuthorization": f"Bearer {token}"}
    assert run(h, custom, header_names=["CustomAuthorization"]).response.status == 200
    # only the configured header is read
    assert run(h, bearer(token), header_names=["CustomAuthorization"]).response.status == 401


def test_cookie_names_are_matched_without_case_as_nginx_does() -> None:
    token = sign(claims(), SECRET)
    result = run(harness(), {"Cookie": f"other=1; Crumble={token}"}, cookie_names=["crumble"])
    assert result.response.status == 200


def test_first_of_a_repeated_header_is_read() -> None:
    token = sign(claims(), SECRET)
    headers = [("CustomAuthorization", f"Bearer {token}"), ("CustomAuthorization", "Bearer other-token")]
    result = run(harness(), headers, header_names=["CustomAuthorization"])
    assert result.response.status == 200


def test_lowercase_bearer_scheme() -> None:
    result = run(harness(), {"Authorization": "bearer " + sign(claims(), SECRET)})
    assert result.response.status == 200


def test_key_claim_from_another_claim_and_from_the_header() -> None:
    token = sign(claims(aud="issuer-1", iss=None), SECRET)
    assert run(harness(), bearer(token), key_claim_name="aud").response.status == 200
    token = sign(claims(), SECRET, header={"typ": "JWT", "alg": "HS256", "kid": "issuer-1"})
    assert run(harness(), bearer(token), key_claim_name="kid").response.status == 200


def test_secret_is_base64() -> None:
    raw = b"\xfb\xff original secret \x00"
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    for stored in (standard, urlsafe):
        h = harness(secret(secret=stored))
        result = run(h, bearer(sign(claims(), raw)), secret_is_base64=True)
        assert result.response.status == 200, stored
    h = harness(secret(secret="!!! not base64 !!!"))
    result = run(h, bearer(sign(claims(), SECRET)), secret_is_base64=True)
    assert result.response.json() == {"message": "Invalid key/secret"}


def test_credential_without_secret_is_invalid_key() -> None:
    h = harness(secret(secret=None))
    assert run(h, bearer(sign(claims(), SECRET))).response.json() == {"message": "Invalid key/secret"}


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_algorithms(keys: dict[str, Any], alg: str) -> None:
    private = keys[alg[:2]]
    h = harness(secret(algorithm=alg, secret=None, rsa_public_key=pem(private)))
    token = sign(claims(), private, alg)
    result = run(h, bearer(token))
    assert result.response.status == 200
    assert result.upstream.headers["x-credential-identifier"] == "issuer-1"
    # secret_is_base64 concerns HS secrets only
    assert run(h, bearer(token), secret_is_base64=True).response.status == 200


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_algorithms(keys: dict[str, Any], alg: str) -> None:
    private = keys[alg]
    h = harness(secret(algorithm=alg, rsa_public_key=pem(private)))
    assert run(h, bearer(sign(claims(), private, alg))).response.status == 200
    head, body, sig = sign(claims(), private, alg).split(".")
    short = b64(base64.urlsafe_b64decode(sig + "==")[:-1])
    assert run(h, bearer(f"{head}.{body}.{short}")).response.json() == {"message": "Invalid signature"}


@pytest.mark.parametrize("curve", ["Ed25519", "Ed448"])
def test_eddsa(keys: dict[str, Any], curve: str) -> None:
    private = keys[curve]
    h = harness(secret(algorithm="EdDSA", rsa_public_key=pem(private)))
    assert run(h, bearer(sign(claims(), private, "EdDSA"))).response.status == 200


def test_asymmetric_wrong_key_and_tampering(keys: dict[str, Any]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    h = harness(secret(algorithm="RS256", rsa_public_key=pem(keys["RS"])))
    assert run(h, bearer(sign(claims(), other, "RS256"))).response.json() == {"message": "Invalid signature"}
    head, _, sig = sign(claims(), keys["RS"], "RS256").split(".")
    tampered = f"{head}.{b64(orjson.dumps(claims(iat=1)))}.{sig}"
    assert run(h, bearer(tampered)).response.json() == {"message": "Invalid signature"}
    # an HS token made with the public key's text as the secret (the classic confusion)
    confused = sign(claims(), pem(keys["RS"]), "HS256")
    assert run(h, bearer(confused)).response.json() == {"message": "Invalid algorithm"}


def test_key_of_another_kind_than_the_algorithm(keys: dict[str, Any]) -> None:
    h = harness(secret(algorithm="ES256", rsa_public_key=pem(keys["RS"])))
    token = sign(claims(), keys["ES256"], "ES256")
    assert run(h, bearer(token)).response.json() == {"message": "Invalid signature"}


def test_unusable_public_key_is_invalid_key(keys: dict[str, Any]) -> None:
    h = harness(secret(algorithm="RS256", rsa_public_key="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"))
    result = run(h, bearer(sign(claims(), keys["RS"], "RS256")))
    assert result.response.json() == {"message": "Invalid key/secret"}
    h = harness(secret(algorithm="ES256"))
    assert run(h, bearer(sign(claims(), keys["ES256"], "ES256"))).response.json() == {"message": "Invalid key/secret"}


def test_public_keys_are_parsed_once_per_plugin_object(keys: dict[str, Any], monkeypatch: Any) -> None:
    calls = []
    real = jwt_plugin._load_key
    monkeypatch.setattr(jwt_plugin, "_load_key", lambda text: calls.append(text) or real(text))
    plugin = jwt_plugin.Plugin({"claims_to_verify": None})
    text = pem(keys["RS"])

    class _Log:
        def err(self, *_: Any) -> None: ...

    kong = type("K", (), {"log": _Log()})()
    for _ in range(3):
        assert plugin._public_key(kong, text) is not None
    assert len(calls) == 1


def test_a_private_key_pem_is_read_for_its_public_half(keys: dict[str, Any]) -> None:
    private_pem = (
        keys["RS"]
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    h = harness(secret(algorithm="RS256", rsa_public_key=private_pem))
    assert run(h, bearer(sign(claims(), keys["RS"], "RS256"))).response.status == 200


# -- registered claims ----------------------------------------------------------------------


def test_claims_not_verified_unless_configured() -> None:
    token = sign(claims(exp=1, nbf=time.time() + 999), SECRET)
    assert run(harness(), bearer(token)).response.status == 200


def test_checked_claims_must_be_numbers() -> None:
    token = sign({"iss": "issuer-1", "exp": "tomorrow", "nbf": True}, SECRET)
    result = run(harness(), path=f"/request/?jwt={token}", claims_to_verify=["nbf", "exp"])
    assert result.response.status == 401
    assert result.response.json() == {"nbf": "must be a number", "exp": "must be a number"}
    assert result.response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    missing = sign({"iss": "issuer-1"}, SECRET)
    result = run(harness(), bearer(missing), claims_to_verify=["exp"])
    assert result.response.json() == {"exp": "must be a number"}


def test_expired_and_not_yet_valid() -> None:
    now = int(time.time())
    expired = sign(claims(exp=now - 1), SECRET)
    result = run(harness(), bearer(expired), claims_to_verify=["exp"])
    assert result.response.body == b'{"exp":"token expired"}'
    result = run(harness(), bearer(sign(claims(exp=now), SECRET)), claims_to_verify=["exp"])
    assert result.response.json() == {"exp": "token expired"}  # exp <= now
    later = sign(claims(nbf=now + 120), SECRET)
    result = run(harness(), bearer(later), claims_to_verify=["nbf"])
    assert result.response.body == b'{"nbf":"token not valid yet"}'
    result = run(harness(), bearer(sign(claims(nbf=now + 120, exp=now - 5), SECRET)), claims_to_verify=["nbf", "exp"])
    assert result.response.json() == {"nbf": "token not valid yet", "exp": "token expired"}
    assert run(harness(), bearer(sign(claims(), SECRET)), claims_to_verify=["nbf", "exp"]).response.status == 200


def test_maximum_expiration() -> None:
    now = int(time.time())
    config = {"claims_to_verify": ["nbf", "exp"], "maximum_expiration": 300}
    far = sign(claims(exp=now + 3600), SECRET)
    result = run(harness(), path=f"/request/?jwt={far}", **config)
    assert result.response.body == b'{"exp":"exceeds maximum allowed expiration"}'
    assert result.response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    near = sign(claims(exp=now + 270), SECRET)
    assert run(harness(), path=f"/request/?jwt={near}", **config).response.status == 200


def test_schema_defaults_and_checks() -> None:
    plugin = jwt_plugin.Schema
    assert plugin is not None
    with pytest.raises(PluginConfigError) as refused:
        run(harness(), maximum_expiration=300, claims_to_verify=["nbf"])
    assert "expected to contain: exp" in str(refused.value.errors)
    with pytest.raises(PluginConfigError):
        run(harness(), maximum_expiration=31536001, claims_to_verify=["exp"])
    with pytest.raises(PluginConfigError):
        run(harness(), claims_to_verify=["iat"])
    assert jwt_plugin.priority == 1450 and jwt_plugin.version == "3.10.0"


# -- preflight, anonymous, several auth plugins ---------------------------------------------


def test_run_on_preflight() -> None:
    assert run(harness(), method="OPTIONS", run_on_preflight=False).response.status == 200
    result = run(harness(), method="OPTIONS")
    assert result.response.status == 401
    assert result.response.body == b'{"message":"Unauthorized"}'


def test_anonymous_by_id_and_username() -> None:
    for anonymous in (ANONYMOUS["id"], ANONYMOUS["username"]):
        result = run(harness(), bearer("invalid.jwt.token"), anonymous=anonymous)
        assert result.response.status == 200
        up = result.upstream.headers
        assert up["x-anonymous-consumer"] == "true"
        assert up["x-consumer-username"] == "no-body"
        assert "x-credential-identifier" not in up
        assert "authenticated_jwt_token" not in result.shared
    result = run(harness(), bearer(sign(claims(), SECRET)), anonymous=ANONYMOUS["id"])
    assert result.upstream.headers["x-consumer-username"] == "jwt_tests_consumer"
    assert result.upstream.headers["x-credential-identifier"] == "issuer-1"


def test_missing_anonymous_consumer_is_500() -> None:
    missing = "00000000-0000-4000-8000-00000000dead"
    result = run(harness(), anonymous=missing)
    assert result.response.status == 500
    assert result.response.json()["message"] == f"anonymous consumer {missing} is configured but doesn't exist"


def _two(anonymous: bool) -> tuple[PluginHarness, dict[str, Any]]:
    user2 = {"id": "c0000000-0000-4000-8000-000000000003", "username": "key-user"}
    h = PluginHarness(
        key_auth,
        jwt_plugin,
        entities={
            "consumers": [CONSUMER, ANONYMOUS, user2],
            "jwt_secrets": [secret()],
            "keyauth_credentials": [{"id": "4e000000-0000-4000-8000-000000000001", "key": "Mouse",
                                     "consumer": {"id": user2["id"]}}],
        },
    )  # fmt: skip
    extra = {"anonymous": ANONYMOUS["id"]} if anonymous else {}
    return h, {"key-auth": extra, "jwt": extra}


def test_logical_and_of_key_auth_and_jwt() -> None:
    h, configs = _two(False)
    token = sign(claims(), SECRET)
    both = h.run(Request("GET", "/", {"apikey": "Mouse", **bearer(token)}), configs=configs)
    assert both.response.status == 200
    only_key = h.run(Request("GET", "/", {"apikey": "Mouse"}), configs=configs)
    assert (only_key.response.status, only_key.response.headers["WWW-Authenticate"]) == (401, "Bearer")
    only_jwt = h.run(Request("GET", "/", bearer(token)), configs=configs)
    assert (only_jwt.response.status, only_jwt.response.headers["WWW-Authenticate"]) == (401, "Key")


def test_logical_or_of_key_auth_and_jwt() -> None:
    h, configs = _two(True)
    token = sign(claims(), SECRET)
    only_key = h.run(Request("GET", "/", {"apikey": "Mouse"}), configs=configs)
    assert only_key.upstream.headers["x-consumer-username"] == "key-user"
    only_jwt = h.run(Request("GET", "/", bearer(token)), configs=configs)
    assert only_jwt.upstream.headers["x-consumer-id"] == CONSUMER["id"]
    assert only_jwt.upstream.headers["x-credential-identifier"] == "issuer-1"
    neither = h.run(Request("GET", "/"), configs=configs)
    assert neither.upstream.headers["x-consumer-id"] == ANONYMOUS["id"]
    assert neither.upstream.headers["x-anonymous-consumer"] == "true"


def test_a_token_seen_before_is_verified_again_with_another_key(keys: dict[str, Any]) -> None:
    plugin = jwt_plugin.Plugin({"header_names": ["authorization"], "uri_param_names": ["jwt"]})
    raw = sign(claims(), SECRET)
    token = plugin._token(raw)
    assert plugin._token(raw) is token  # decoded once
    assert plugin._verified(None, token, secret(), "HS256")
    assert token.verified == ("HS256", SECRET)
    # the credential's secret changed (a new configuration): the remembered verification does not count
    assert not plugin._verified(None, token, secret(secret="another-secret"), "HS256")
    assert plugin._verified(None, token, secret(), "HS256")
    rs = sign(claims(iss="rs"), keys["RS"], "RS256")
    token = plugin._token(rs)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert plugin._verified(None, token, secret("rs", algorithm="RS256", rsa_public_key=pem(keys["RS"])), "RS256")
    assert not plugin._verified(None, token, secret("rs", algorithm="RS256", rsa_public_key=pem(other)), "RS256")


def test_the_decoded_tokens_kept_are_bounded() -> None:
    plugin = jwt_plugin.Plugin({"header_names": ["authorization"]})
    for n in range(jwt_plugin._TOKEN_CACHE_LIMIT + 10):
        plugin._token(sign(claims(n=n), SECRET))
    assert len(plugin.parsed) <= jwt_plugin._TOKEN_CACHE_LIMIT
    long = sign(claims(pad="x" * jwt_plugin._TOKEN_CACHE_LENGTH), SECRET)
    plugin._token(long)
    assert long not in plugin.parsed


def test_an_expired_token_seen_before_is_refused_once_expired() -> None:
    h = harness()
    token = sign(claims(exp=int(time.time()) + 1), SECRET)
    assert run(h, bearer(token), claims_to_verify=["exp"]).response.status == 200
    time.sleep(2.1)  # the token's own lifetime: the claims are judged again on every request
    assert run(h, bearer(token), claims_to_verify=["exp"]).response.json() == {"exp": "token expired"}
