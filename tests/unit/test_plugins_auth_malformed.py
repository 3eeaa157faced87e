"""Whatever a client puts in the headers and query the authentication plugins read, they answer
with a status of Kong's (a 401, or the request let through) and never raise (a 500)."""

from __future__ import annotations

import base64
import string

from hypothesis import HealthCheck, given, settings, strategies as st

from dataplane.plugins.bundled import basic_auth, hmac_auth, jwt
from dataplane.plugins.testing import PluginHarness, Request

CONSUMER = {"id": "f0000000-0000-4000-8000-000000000001", "username": "fuzz"}
ENTITIES = {
    "consumers": [CONSUMER],
    "basicauth_credentials": [
        {"id": "f1000000-0000-4000-8000-000000000001", "username": "fuzz", "password": "0" * 40,
         "consumer": {"id": CONSUMER["id"]}}
    ],
    "jwt_secrets": [
        {"id": "f2000000-0000-4000-8000-000000000001", "key": "fuzz", "secret": "s", "algorithm": "HS256",
         "consumer": {"id": CONSUMER["id"]}}
    ],
    "hmacauth_credentials": [
        {"id": "f3000000-0000-4000-8000-000000000001", "username": "fuzz", "secret": "s",
         "consumer": {"id": CONSUMER["id"]}}
    ],
}  # fmt: skip
HARNESSES = {
    "basic-auth": PluginHarness(basic_auth, entities=ENTITIES),
    "jwt": PluginHarness(jwt, entities=ENTITIES),
    "hmac-auth": PluginHarness(hmac_auth, entities=ENTITIES),
}
CONFIGS = {"basic-auth": {}, "jwt": {"cookie_names": ["c"]}, "hmac-auth": {"validate_request_body": True}}

# header values as a client may send them: printable latin-1 and tabs, no CR or LF
VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)
B64 = st.text(alphabet=string.ascii_letters + string.digits + "+/=-_.", max_size=60)
SCHEMED = st.one_of(
    VALUE,
    B64.map(lambda v: f"Basic {v}"),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    B64.map(lambda v: f"Bearer {v}"),
    st.lists(B64, min_size=2, max_size=4).map(lambda parts: "Bearer " + ".".join(parts)),
    st.tuples(VALUE, VALUE, B64).map(
        lambda t: f'hmac username="{t[0]}", algorithm="hmac-sha256", headers="{t[1]}", signature="{t[2]}"'
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plugin=st.sampled_from(sorted(HARNESSES)),
    authorization=st.one_of(st.none(), SCHEMED),
    proxy=st.one_of(st.none(), SCHEMED),
    date=st.one_of(st.none(), VALUE, st.just("Sun, 06 Nov 1994 08:49:37 GMT")),
    query=B64,
    cookie=VALUE,
    body=st.binary(max_size=30),
)
def test_malformed_credentials_are_answered_never_raised(plugin, authorization, proxy, date, query, cookie, body):
    headers = {"Cookie": f"c={cookie}".replace(";", "")}
    for name, value in (("Authorization", authorization), ("Proxy-Authorization", proxy), ("Date", date)):
        if value is not None:
            headers[name] = value
    request = Request("POST", f"/?jwt={query.replace('&', '')}", headers, body)
    result = HARNESSES[plugin].run(request, config=CONFIGS[plugin])  # a raise fails the test
    assert result.response.status in (200, 401)
