"""The hmac-auth plugin in-process (Kong's spec/03-plugins/19-hmac-auth behaviours): the
signature scheme in both headers, the signing string (headers, request-line, @request-target),
algorithms, clock_skew, enforce_headers, validate_request_body, anonymous and bad input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from email.utils import formatdate
from typing import Any

import pytest

from dataplane.plugins.bundled import hmac_auth
from dataplane.plugins.testing import PluginConfigError, PluginHarness, Request

BOB = {"id": "40000000-0000-4000-8000-000000000001", "username": "bob", "custom_id": "bob-1"}
ANONYMOUS = {"id": "40000000-0000-4000-8000-000000000002", "username": "no-body"}
CREDENTIAL = {"id": "4c000000-0000-4000-8000-000000000001", "username": "bob", "secret": "secret",
              "consumer": {"id": BOB["id"]}}  # fmt: skip
NOT_VALID = "HMAC signature cannot be verified"
NOT_SAME = "HMAC signature does not match"
NO_DATE = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
           "hmac-sha512": hashlib.sha512}  # fmt: skip

H = PluginHarness(hmac_auth, entities={"consumers": [BOB, ANONYMOUS], "hmacauth_credentials": [CREDENTIAL]})


def now() -> str:
    return formatdate(usegmt=True)


def signature(lines: list[str], algorithm: str = "hmac-sha1", secret: str = "secret") -> str:
    digest = hmac.new(secret.encode(), "\n".join(lines).encode(), DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def auth(names: str, sig: str, algorithm: str = "hmac-sha1", username: str = "bob") -> str:
    return f'hmac username="{username}", algorithm="{algorithm}", headers="{names}", signature="{sig}"'


def signed(date: str, algorithm: str = "hmac-sha1") -> str:
    return auth("date", signature([f"date: {date}"], algorithm), algorithm)


def run(headers: Any = (), method: str = "GET", path: str = "/request", body: bytes = b"", **config: Any) -> Any:
    return H.run(Request(method, path, headers, body), config=config, reraise=False)


def refused(result: Any, message: str, challenge: str = "hmac") -> None:
    assert result.response.status == 401
    assert result.response.json()["message"] == message
    assert result.response.headers["WWW-Authenticate"] == challenge
    assert result.upstream is None


def test_schema_defaults_and_messages() -> None:
    assert (hmac_auth.priority, hmac_auth.version, hmac_auth.no_consumer) == (1030, "3.10.0", True)
    for config in ({"clock_skew": 0}, {"clock_skew": -3}, {"algorithms": ["hmac-md5"]}, {"enforce_headers": "date"}):
        with pytest.raises(PluginConfigError):
            run(**config)
    with pytest.raises(PluginConfigError) as error:
        run(clock_skew=0)
    assert "value must be greater than 0" in str(error.value.errors)


def test_no_credentials_is_unauthorized_with_the_realm() -> None:
    refused(run({"Date": now()}, realm="test-realm"), "Unauthorized", 'hmac realm="test-realm"')
    refused(run({"Date": now()}), "Unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "asd",
        'hmac username="bob"',
        'hmac username="bob",algorithm="hmac-sha1",headers="date"',  # no signature
        'hmac algorithm="hmac-sha1",headers="date",signature="x"',  # no username
        'hmac username="bob",algorithm="hmac-sha1",header="date",signature="x"',  # field names wrong
        'hmac username="bob",algorithm="hmac-sha1",headers="date",signatur="x"',
    ],
)
def test_malformed_parameters_cannot_be_verified(header: str) -> None:
    refused(run({"Date": now(), "Authorization": header}), NOT_VALID)
    refused(run({"Date": now(), "Proxy-Authorization": header}), NOT_VALID)


def test_a_signature_not_in_base64_does_not_match() -> None:
    header = 'hmac username="bob",algorithm="hmac-sha1",headers="date",signature="not really a base64 encoded value!!!"'
    refused(run({"Date": now(), "Authorization": header}), NOT_SAME)


def test_a_wrong_signature_does_not_match() -> None:
    date = now()
    refused(run({"Date": date, "Authorization": auth("date", signature([f"date: {date}"], secret="other"))}), NOT_SAME)


def test_unknown_username_cannot_be_verified() -> None:
    date = now()
    header = auth("date", signature([f"date: {date}"]), username="alice")
    refused(run({"Date": date, "Authorization": header}), NOT_VALID)


def test_date_required_and_within_clock_skew() -> None:
    refused(run({"Authorization": signed(now())}), NO_DATE)
    old = formatdate(time.time() - 400, usegmt=True)
    refused(run({"Date": old, "Authorization": signed(old)}), NO_DATE)
    assert run({"Date": old, "Authorization": signed(old)}, clock_skew=500).response.status == 200
    refused(run({"X-Date": "not a date", "Authorization": signed(now())}), NO_DATE)
    # a malformed x-date with a good date passes; x-date is tried first
    date = now()
    assert run({"X-Date": "junk", "Date": date, "Authorization": signed(date)}).response.status == 200
    header = auth("x-date", signature([f"x-date: {date}"]))
    assert run({"X-Date": date, "Authorization": header}).response.status == 200


@pytest.mark.parametrize(
    "date",
    ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
)
def test_http_dates_nginx_reads(date: str) -> None:
    assert hmac_auth.parse_http_time(date) == 784111777


@pytest.mark.parametrize("date", ["", "yesterday", "Sun, 31 Feb 2024 08:49:37 GMT", "Sun, 06 Nov 1994 25:00:00 GMT"])
def test_dates_nginx_refuses(date: str) -> None:
    assert hmac_auth.parse_http_time(date) is None


def test_valid_signature_proxies_with_consumer_headers() -> None:
    date = now()
    header = signed(date)
    result = run({"Date": date, "Authorization": header, "X-Anonymous-Consumer": "true"})
    assert result.response.status == 200
    headers = result.upstream.headers
    assert headers["authorization"] == header
    assert (headers["x-consumer-id"], headers["x-consumer-username"]) == (BOB["id"], "bob")
    assert headers["x-consumer-custom-id"] == "bob-1"
    assert headers["x-credential-identifier"] == "bob"  # the credential's username
    assert "x-anonymous-consumer" not in headers
    assert result.credential["id"] == CREDENTIAL["id"]


@pytest.mark.parametrize("algorithm", hmac_auth.ALGORITHMS)
def test_every_algorithm(algorithm: str) -> None:
    date = now()
    assert run({"Date": date, "Authorization": signed(date, algorithm)}).response.status == 200
    allowed = [a for a in hmac_auth.ALGORITHMS if a != algorithm]
    refused(run({"Date": date, "Authorization": signed(date, algorithm)}, algorithms=allowed), NOT_VALID)


def test_proxy_authorization_is_read_first_and_hidden() -> None:
    date = now()
    result = run({"Date": date, "Proxy-Authorization": signed(date), "Authorization": "hello"}, hide_credentials=True)
    assert result.response.status == 200
    assert "proxy-authorization" not in result.upstream.headers
    assert result.upstream.headers["authorization"] == "hello"
    # a wrong Proxy-Authorization with a username is judged, Authorization not read
    wrong = auth("date", "AAAA")
    refused(run({"Date": date, "Proxy-Authorization": wrong, "Authorization": signed(date)}), NOT_SAME)
    # a Proxy-Authorization of another scheme: Authorization is read, and hidden
    result = run({"Date": date, "Proxy-Authorization": "Basic x", "Authorization": signed(date)}, hide_credentials=True)
    assert result.response.status == 200
    assert "authorization" not in result.upstream.headers
    assert result.upstream.headers["proxy-authorization"] == "Basic x"


def test_request_line_and_request_target_are_signed_as_received() -> None:
    date = now()
    path = "/request?name=foo%20b%C3%A1r&x=1&x=2"
    lines = [f"date: {date}", "content-md5: md5", f"GET {path} HTTP/1.1"]
    header = auth("date content-md5 request-line", signature(lines))
    assert run({"Date": date, "Content-MD5": "md5", "Authorization": header}, path=path).response.status == 200
    # signed without the query: refused
    lines = [f"date: {date}", "content-md5: md5", "GET /request HTTP/1.1"]
    header = auth("date content-md5 request-line", signature(lines))
    refused(run({"Date": date, "Content-MD5": "md5", "Authorization": header}, path=path), NOT_SAME)
    lines = [f"date: {date}", f"@request-target: post {path}"]
    header = auth("date @request-target", signature(lines))
    assert run({"Date": date, "Authorization": header}, method="POST", path=path).response.status == 200


def test_a_signed_header_the_request_lacks_is_signed_empty() -> None:
    date = now()
    header = auth("date x-missing", signature([f"date: {date}", "x-missing:"]))
    assert run({"Date": date, "Authorization": header}).response.status == 200


def test_enforce_headers() -> None:
    date = now()
    refused(run({"Date": date, "Authorization": signed(date)}, enforce_headers=["date", "request-line"]), NOT_VALID)
    lines = [f"date: {date}", "GET /request HTTP/1.1"]
    header = auth("date request-line", signature(lines))
    result = run({"Date": date, "Authorization": header}, enforce_headers=["date", "request-line"])
    assert result.response.status == 200


def digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_validate_request_body() -> None:
    date = now()
    body = b'{"a": "apple", "b": "ball"}'
    lines = [f"date: {date}", f"digest: {digest(body)}"]
    header = auth("date digest", signature(lines))
    good = {"Date": date, "Digest": digest(body), "Authorization": header}
    assert run(good, method="POST", body=body, validate_request_body=True).response.status == 200
    refused(run(good, method="POST", body=body + b" ", validate_request_body=True), NOT_SAME)
    # the digest need not be signed, but must be there for a body
    unsigned = {"Date": date, "Digest": digest(body), "Authorization": signed(date)}
    assert run(unsigned, method="POST", body=body, validate_request_body=True).response.status == 200
    refused(run({"Date": date, "Authorization": signed(date)}, method="POST", body=body, validate_request_body=True),
            NOT_SAME)  # fmt: skip
    tampered = {"Date": date, "Digest": digest(b"other"), "Authorization": signed(date)}
    refused(run(tampered, method="POST", body=body, validate_request_body=True), NOT_SAME)
    # no body and no digest is fine, and so is no body with the empty body's digest
    assert run({"Date": date, "Authorization": signed(date)}, validate_request_body=True).response.status == 200
    empty = {"Date": date, "Digest": digest(b""), "Authorization": signed(date)}
    assert run(empty, validate_request_body=True).response.status == 200


def test_anonymous() -> None:
    date = now()
    assert (
        run({"Date": date, "Authorization": signed(date)}, anonymous=ANONYMOUS["id"]).upstream.headers[
            "x-credential-identifier"
        ]
        == "bob"
    )
    for anonymous in (ANONYMOUS["id"], "no-body"):
        result = run({"Date": date, "Authorization": "asd"}, anonymous=anonymous)
        assert result.response.status == 200
        headers = result.upstream.headers
        assert (headers["x-anonymous-consumer"], headers["x-consumer-username"]) == ("true", "no-body")
        assert "x-credential-identifier" not in headers
    result = run({"Date": date}, anonymous="nobody-at-all")
    assert result.response.status == 500
    assert result.response.json()["message"] == "anonymous consumer nobody-at-all is configured but doesn't exist"
