"""The basic-auth plugin in-process (Kong's spec/03-plugins/10-basic-auth behaviours): the two
headers, realm and challenge, Kong's password hash, hide_credentials, anonymous and bad input."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from dataplane.plugins.bundled import basic_auth, key_auth
from dataplane.plugins.testing import PluginConfigError, PluginHarness, Request

BOB = {"id": "b0000000-0000-4000-8000-000000000001", "username": "bob", "custom_id": "bob-1"}
ANONYMOUS = {"id": "b0000000-0000-4000-8000-000000000002", "username": "no-body"}


def stored(password: str, consumer_id: str) -> str:
    """The password as Kong stores it: hex(sha1(password .. consumer id))."""
    return hashlib.sha1((password + consumer_id).encode()).hexdigest()


def credential(username: str, password: str, consumer: dict[str, Any] = BOB, n: int = 1) -> dict[str, Any]:
    return {
        "id": f"ba000000-0000-4000-8000-00000000000{n}",
        "username": username,
        "password": stored(password, consumer["id"]),
        "consumer": {"id": consumer["id"]},
    }


CREDENTIALS = [
    credential("bob", "kong", n=1),
    credential("user123", "password123", n=2),
    credential("user321", "password:123", n=3),
    credential("Aladdin", "OpenSesame", n=4),
]


def basic(user_password: str) -> str:
    return "Basic " + base64.b64encode(user_password.encode()).decode()


def harness(*plugins: Any) -> PluginHarness:
    return PluginHarness(
        *(plugins or (basic_auth,)),
        entities={"consumers": [BOB, ANONYMOUS], "basicauth_credentials": CREDENTIALS},
    )


H = harness()


def run(headers: Any = (), **config: Any) -> Any:
    return H.run(Request("GET", "/request", headers), config=config)


def test_schema_defaults_and_kongs_fields() -> None:
    assert (basic_auth.priority, basic_auth.version, basic_auth.no_consumer) == (1100, "3.10.0", True)
    result = run()
    assert result.response.headers["WWW-Authenticate"] == 'Basic realm="service"'
    with pytest.raises(PluginConfigError):
        run(hide_credentials="yes")
    with pytest.raises(PluginConfigError):
        run(other=1)


def test_missing_credentials_is_401_with_the_realm() -> None:
    result = run(realm="test-realm")
    assert result.response.status == 401
    assert result.response.json()["message"] == "Unauthorized"
    assert result.response.headers["WWW-Authenticate"] == 'Basic realm="test-realm"'
    assert result.upstream is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "foobar"},
        {"Proxy-Authorization": "foobar"},
        {"Authorization": "Basic a29uZw=="},  # "kong": a password only
        {"Authorization": "Basic Ym9i"},  # "bob": a username only
        {"Authorization": "Basic adXNlcjEyMzpwYXNzd29yZDEyMw=="},  # not the base64 of user:password
        {"Authorization": basic("bob:wrong")},
        {"Authorization": basic("bob:")},
        {"Authorization": basic("nobody:kong")},
        {"Authorization": "Basic !!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:kong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"bob\nx:kong").decode()},
        {"Authorization": "Basic"},
        {"Authorization": "Bearer Ym9iOmtvbmc="},
    ],
)
def test_invalid_credentials_are_401_never_500(headers: dict[str, str]) -> None:
    result = H.run(Request("GET", "/request", headers), config={"realm": "test-realm"}, reraise=False)
    assert result.response.status == 401
    assert result.response.json()["message"] == "Unauthorized"
    assert result.response.headers["WWW-Authenticate"] == 'Basic realm="test-realm"'


def test_valid_credentials_in_authorization_with_consumer_headers() -> None:
    result = run({"Authorization": "Basic Ym9iOmtvbmc="})  # bob:kong
    assert result.response.status == 200
    headers = result.upstream.headers
    assert headers["x-consumer-id"] == BOB["id"]
    assert headers["x-consumer-username"] == "bob"
    assert headers["x-consumer-custom-id"] == "bob-1"
    assert headers["x-credential-identifier"] == "bob"  # the credential's username, as Kong
    assert "x-anonymous-consumer" not in headers
    assert headers["authorization"] == "Basic Ym9iOmtvbmc="  # hide_credentials false
    assert result.consumer["id"] == BOB["id"]
    assert result.credential["username"] == "bob"


def test_another_credential_and_a_password_with_a_colon() -> None:
    result = run({"Authorization": "Basic dXNlcjEyMzpwYXNzd29yZDEyMw=="})  # user123:password123
    assert (result.upstream.headers["x-consumer-username"], result.upstream.headers["x-credential-identifier"]) == (
        "bob",
        "user123",
    )
    result = run({"Authorization": "Basic dXNlcjMyMTpwYXNzd29yZDoxMjM="})  # user321:password:123
    assert result.upstream.headers["x-credential-identifier"] == "user321"


def test_the_scheme_is_found_as_kong_finds_it() -> None:
    for value in ("basic Ym9iOmtvbmc=", "  Basic   Ym9iOmtvbmc=", "BasicYm9iOmtvbmc=", "Basic Ym9iOmtvbmc"):
        assert run({"Authorization": value}).response.status == 200, value


def test_proxy_authorization_then_authorization() -> None:
    assert run({"Proxy-Authorization": "Basic Ym9iOmtvbmc="}).response.status == 200
    # an unknown user in Proxy-Authorization: Authorization is tried
    both = {"Proxy-Authorization": basic("nobody:x"), "Authorization": basic("user123:password123")}
    assert run(both).upstream.headers["x-credential-identifier"] == "user123"
    # a known user with a wrong password in Proxy-Authorization: refused, Authorization not tried
    both = {"Proxy-Authorization": basic("bob:wrong"), "Authorization": basic("user123:password123")}
    assert run(both).response.status == 401


def test_hide_credentials() -> None:
    headers = {"Authorization": "Basic Ym9iOmtvbmc=", "Proxy-Authorization": basic("nobody:x")}
    result = run(headers, hide_credentials=True)
    assert result.response.status == 200
    assert "authorization" not in result.upstream.headers
    assert "proxy-authorization" not in result.upstream.headers
    result = run({"Proxy-Authorization": "Basic Ym9iOmtvbmc="}, hide_credentials=True)
    assert "proxy-authorization" not in result.upstream.headers


def test_client_supplied_identity_headers_are_replaced() -> None:
    forged = {
        "Authorization": basic("Aladdin:OpenSesame"),
        "X-Consumer-ID": "forged",
        "X-Anonymous-Consumer": "true",
        "X-Credential-Identifier": "forged",
    }
    consumer = {k: v for k, v in BOB.items() if k != "custom_id"}
    h = PluginHarness(basic_auth, entities={"consumers": [consumer], "basicauth_credentials": CREDENTIALS})
    result = h.run(Request("GET", "/", {**forged, "X-Consumer-Custom-ID": "forged"}))
    headers = result.upstream.headers
    assert (headers["x-consumer-id"], headers["x-credential-identifier"]) == (BOB["id"], "Aladdin")
    assert "x-anonymous-consumer" not in headers
    assert "x-consumer-custom-id" not in headers


def test_the_stored_hash_is_kongs() -> None:
    # a credential stored by Kong (its hash of "kong" for this consumer) authenticates
    kong_stored = dict(CREDENTIALS[0], password=hashlib.sha1(b"kong" + BOB["id"].encode()).hexdigest())
    h = PluginHarness(basic_auth, entities={"consumers": [BOB], "basicauth_credentials": [kong_stored]})
    assert h.run(Request("GET", "/", {"Authorization": basic("bob:kong")})).response.status == 200
    # a password stored in clear text is no hash: refused
    clear = dict(CREDENTIALS[0], password="kong")
    h = PluginHarness(basic_auth, entities={"consumers": [BOB], "basicauth_credentials": [clear]})
    assert h.run(Request("GET", "/", {"Authorization": basic("bob:kong")})).response.status == 401


def test_anonymous_by_id_and_by_username() -> None:
    right = run({"Authorization": basic("user123:password123")}, anonymous=ANONYMOUS["id"])
    assert right.upstream.headers["x-credential-identifier"] == "user123"
    for anonymous in (ANONYMOUS["id"], "no-body"):
        result = run({"Authorization": basic("bob:wrong")}, anonymous=anonymous)
        assert result.response.status == 200
        headers = result.upstream.headers
        assert headers["x-anonymous-consumer"] == "true"
        assert headers["x-consumer-username"] == "no-body"
        assert "x-credential-identifier" not in headers
        assert result.credential is None


def test_a_missing_anonymous_consumer_is_kongs_500() -> None:
    result = run(anonymous="00000000-0000-4000-8000-00000000dead")
    assert result.response.status == 500
    message = "anonymous consumer 00000000-0000-4000-8000-00000000dead is configured but doesn't exist"
    assert result.response.json()["message"] == message


def test_logical_and_with_key_auth() -> None:
    h = PluginHarness(
        basic_auth,
        key_auth,
        entities={
            "consumers": [BOB, ANONYMOUS],
            "basicauth_credentials": CREDENTIALS,
            "keyauth_credentials": [
                {"id": "ka000000-0000-4000-8000-000000000001", "key": "Mouse", "consumer": {"id": BOB["id"]}}
            ],
        },
    )
    both = {"Authorization": basic("Aladdin:OpenSesame"), "apikey": "Mouse"}
    assert h.run(Request("GET", "/", both)).response.status == 200
    only_key = h.run(Request("GET", "/", {"apikey": "Mouse"}))
    assert only_key.response.status == 401 and only_key.response.headers["WWW-Authenticate"] == 'Basic realm="service"'
    only_basic = h.run(Request("GET", "/", {"Authorization": basic("Aladdin:OpenSesame")}))
    assert only_basic.response.status == 401 and only_basic.response.headers["WWW-Authenticate"] == "Key"
