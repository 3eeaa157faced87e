"""Credentials in hybrid mode, with real processes: PostgreSQL, `controlplane run`, a `dataplane
run` data plane and an echo upstream. basic-auth, acl, jwt and hmac-auth credentials written
through the Admin API (the way KIC writes them: PUT by a client-chosen id under the consumer)
are enforced by the data plane as they change: a basic-auth password rotated by PATCH and by
PUT takes over from the old one, an acl group removed closes its route, and deleting the
consumer takes every credential with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from email.utils import formatdate

import pytest

from tests.support.processes import Gateway
from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def ok(result: tuple[int, dict], status: int = 201) -> dict:
    code, body = result
    assert code == status, body
    return body


def get(dp: Gateway, path: str, *headers: str):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(dp.port, f"GET {path} HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n{head}\r\n".encode())


def basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_hs256(key: str, secret: str) -> str:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"iss": key}).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"Authorization: Bearer {head}.{body}.{b64url(signature)}"


def hmac_headers(username: str, secret: str) -> tuple[str, str]:
    date = formatdate(usegmt=True)
    signature = base64.b64encode(hmac.new(secret.encode(), f"date: {date}".encode(), hashlib.sha256).digest())
    return (f"Date: {date}", f'Authorization: hmac username="{username}", algorithm="hmac-sha256", '
                             f'headers="date", signature="{signature.decode()}"')


def who(dp: Gateway, path: str, *headers: str) -> str | int:
    """The consumer the data plane identified, or the status it refused with."""
    response = get(dp, path, *headers)
    if response.status != 200:
        return response.status
    return response.echoed_headers().get("x-consumer-username", [""])[0]


@pytest.fixture(scope="module")
def cluster(control_plane_factory, module_gateway_factory, module_upstream):
    cp = control_plane_factory()
    ok(cp.admin("POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{module_upstream.port}"}))
    for name, plugins in (("basic", ["basic-auth"]), ("jwt", ["jwt"]), ("hmac", ["hmac-auth"]),
                          ("admins", ["basic-auth", "acl"])):
        route = ok(cp.admin("POST", "/services/echo/routes", {"name": name, "paths": [f"/{name}"]}))
        for plugin in plugins:
            config = {"allow": ["admins"]} if plugin == "acl" else {}
            ok(cp.admin("POST", f"/routes/{route['id']}/plugins", {"name": plugin, "config": config}))
    dp = module_gateway_factory(None, name="dp", workers=1, conf=cp.data_plane_conf())
    wait_for(lambda: get(dp, "/basic").status == 401, message="basic-auth on the data plane")
    return cp, dp


def test_credentials_written_through_the_admin_api_are_enforced_as_they_change(cluster):
    cp, dp = cluster
    consumer = ok(cp.admin("PUT", f"/consumers/{uuid.uuid4()}", {"username": "alice"}), 200)
    base = f"/consumers/{consumer['id']}"
    cred_id = str(uuid.uuid4())
    cred = ok(cp.admin("PUT", f"{base}/basic-auth/{cred_id}", {"username": "alice", "password": "one"}), 200)
    assert cred["id"] == cred_id
    assert cred["password"] == hashlib.sha1(("one" + consumer["id"]).encode()).hexdigest()
    acl = ok(cp.admin("PUT", f"{base}/acls/{uuid.uuid4()}", {"group": "admins"}), 200)
    ok(cp.admin("PUT", f"{base}/jwt/{uuid.uuid4()}", {"key": "alice-iss", "secret": "alice-jwt-secret"}), 200)
    ok(cp.admin("PUT", f"{base}/hmac-auth/{uuid.uuid4()}", {"username": "alice-h", "secret": "alice-h-secret"}), 200)

    wait_for(lambda: who(dp, "/basic", basic("alice", "one")) == "alice", message="basic-auth credential")
    assert who(dp, "/basic", basic("alice", "two")) == 401
    wait_for(lambda: who(dp, "/admins", basic("alice", "one")) == "alice", message="the acl group")
    wait_for(lambda: who(dp, "/jwt", jwt_hs256("alice-iss", "alice-jwt-secret")) == "alice", message="jwt")
    assert who(dp, "/jwt", jwt_hs256("alice-iss", "wrong")) == 401
    wait_for(lambda: who(dp, "/hmac", *hmac_headers("alice-h", "alice-h-secret")) == "alice", message="hmac-auth")
    assert who(dp, "/hmac", *hmac_headers("alice-h", "wrong")) == 401

    # rotations: a PATCH, then a PUT, each hashing the new password; the old one stops working
    ok(cp.admin("PATCH", f"{base}/basic-auth/{cred_id}", {"password": "two"}), 200)
    wait_for(lambda: who(dp, "/basic", basic("alice", "two")) == "alice", message="the PATCHed password")
    assert who(dp, "/basic", basic("alice", "one")) == 401
    ok(cp.admin("PUT", f"{base}/basic-auth/{cred_id}", {"username": "alice", "password": "three"}), 200)
    wait_for(lambda: who(dp, "/basic", basic("alice", "three")) == "alice", message="the PUT password")
    assert who(dp, "/basic", basic("alice", "two")) == 401

    # the acl group gone: the route that allows only admins refuses her, the other still serves
    assert cp.admin("DELETE", f"{base}/acls/{acl['id']}")[0] == 204
    wait_for(lambda: who(dp, "/admins", basic("alice", "three")) == 403, message="the acl removed")
    assert who(dp, "/basic", basic("alice", "three")) == "alice"

    # the consumer deleted: every credential with it
    assert cp.admin("DELETE", base)[0] == 204
    wait_for(lambda: who(dp, "/basic", basic("alice", "three")) == 401, message="the consumer deleted")
    assert who(dp, "/jwt", jwt_hs256("alice-iss", "alice-jwt-secret")) == 401
    assert who(dp, "/hmac", *hmac_headers("alice-h", "alice-h-secret")) == 401
    for path in ("/basic-auths", "/acls", "/jwts", "/hmac-auths"):
        assert cp.admin("GET", path)[1]["data"] == [], path
