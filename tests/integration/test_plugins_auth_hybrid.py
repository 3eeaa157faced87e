"""basic-auth, jwt, hmac-auth and acl in hybrid mode, with real processes: PostgreSQL,
`controlplane run`, a `dataplane run` data plane (2 workers) and an echo upstream. The plugins,
consumers and credentials are written through the Admin API entity by entity, as the Kong
Ingress Controller writes them, and reach the data plane as deltas: a credential authenticates
once written, a changed basic-auth password (hashed again by the control plane) replaces the
old one, a deleted credential or group no longer counts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
from email.utils import formatdate
from typing import Any

import pytest

from tests.support.processes import ControlPlane, Gateway
from tests.support.raw_client import raw_request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def admin(cp: ControlPlane, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", cp.admin_port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


def write(cp: ControlPlane, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
    code, answer = admin(cp, method, path, body)
    assert code in (200, 201, 204), (method, path, code, answer)
    return answer


def get(dp: Gateway, path: str, *headers: str):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(dp.port, f"GET {path} HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n{head}\r\n".encode())


def basic(user_password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(user_password.encode()).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(key: str, secret: str) -> str:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signed = f"{head}.{b64url(json.dumps({'iss': key}).encode())}"
    return f"{signed}.{b64url(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())}"


def hmac_auth(username: str, secret: str) -> tuple[str, str]:
    date = formatdate(usegmt=True)
    signature = base64.b64encode(hmac.new(secret.encode(), f"date: {date}".encode(), hashlib.sha256).digest())
    header = f'hmac username="{username}", algorithm="hmac-sha256", headers="date", signature="{signature.decode()}"'
    return f"Date: {date}", f"Authorization: {header}"


@pytest.fixture(scope="module")
def cluster(control_plane_factory, module_gateway_factory, module_upstream):
    cp = control_plane_factory()
    write(cp, "POST", "/services", {"name": "echo", "url": f"http://127.0.0.1:{module_upstream.port}"})
    for name, plugins in {
        "basic": [{"name": "basic-auth"}],
        "jwt": [{"name": "jwt"}],
        "hmac": [{"name": "hmac-auth"}],
        "acl": [{"name": "basic-auth"}, {"name": "acl", "config": {"allow": ["admin"]}}],
    }.items():
        write(cp, "POST", "/services/echo/routes", {"name": name, "paths": [f"/{name}"]})
        for plugin in plugins:
            write(cp, "POST", f"/routes/{name}/plugins", plugin)
    dp = module_gateway_factory(None, name="dp", conf=cp.data_plane_conf())
    wait_for(lambda: get(dp, "/basic").status == 401, message="basic-auth on the data plane")
    dp.wait_workers()
    return cp, dp


def test_credentials_written_through_the_admin_api_authenticate_on_the_data_plane(cluster):
    cp, dp = cluster
    consumer = write(cp, "POST", "/consumers", {"username": "alice", "custom_id": "a-1"})
    write(cp, "POST", "/consumers/alice/basic-auth", {"username": "alice", "password": "first"})
    jwt = write(cp, "POST", "/consumers/alice/jwt", {"key": "alice-key", "secret": "alice-secret"})
    write(cp, "POST", "/consumers/alice/hmac-auth", {"username": "alice-hmac", "secret": "hmac-secret"})

    def every_credential_works() -> bool:
        answers = [
            get(dp, "/basic", basic("alice:first")),
            get(dp, "/jwt", f"Authorization: Bearer {hs256(jwt['key'], jwt['secret'])}"),
            get(dp, "/hmac", *hmac_auth("alice-hmac", "hmac-secret")),
        ]
        return all(a.status == 200 and a.echoed_headers()["x-consumer-id"] == [consumer["id"]] for a in answers)

    wait_for(every_credential_works, message="the new credentials on the data plane")
    dp.wait_workers()  # one worker answered: the other may take the version a moment later
    response = get(dp, "/jwt", f"Authorization: Bearer {hs256('alice-key', 'alice-secret')}")
    assert response.echoed_headers()["x-credential-identifier"] == ["alice-key"]
    assert response.echoed_headers()["x-consumer-custom-id"] == ["a-1"]

    # a new password, hashed again by the control plane, replaces the old one
    write(cp, "PATCH", "/consumers/alice/basic-auth/alice", {"password": "second"})
    wait_for(lambda: get(dp, "/basic", basic("alice:second")).status == 200, message="the changed password")
    dp.wait_workers()
    assert get(dp, "/basic", basic("alice:first")).status == 401

    # a deleted credential no longer authenticates
    write(cp, "DELETE", "/consumers/alice/hmac-auth/alice-hmac")
    wait_for(lambda: get(dp, "/hmac", *hmac_auth("alice-hmac", "hmac-secret")).status == 401, message="deleted")
    dp.wait_workers()
    refused = get(dp, "/hmac", *hmac_auth("alice-hmac", "hmac-secret"))
    assert refused.json()["message"] == "HMAC signature cannot be verified"


def test_acl_groups_written_and_removed_through_the_admin_api(cluster):
    cp, dp = cluster
    write(cp, "POST", "/consumers", {"username": "bob"})
    write(cp, "POST", "/consumers/bob/basic-auth", {"username": "bob", "password": "pw"})
    wait_for(lambda: get(dp, "/acl", basic("bob:pw")).status == 403, message="bob without a group")
    dp.wait_workers()
    assert get(dp, "/acl", basic("bob:pw")).json()["message"] == "You cannot consume this service"
    write(cp, "POST", "/consumers/bob/acls", {"group": "admin"})
    wait_for(lambda: get(dp, "/acl", basic("bob:pw")).status == 200, message="bob in admin")
    dp.wait_workers()
    assert get(dp, "/acl", basic("bob:pw")).echoed_headers()["x-consumer-groups"] == ["admin"]
    write(cp, "DELETE", "/consumers/bob/acls/admin")
    wait_for(lambda: get(dp, "/acl", basic("bob:pw")).status == 403, message="bob out of admin")
    dp.wait_workers()
