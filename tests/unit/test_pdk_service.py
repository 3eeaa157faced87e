"""kong.service.* and the body and scheme setters of kong.service.request, through the plugin
test kit: Kong's argument checks and messages, and what reaches the upstream."""

from __future__ import annotations

import textwrap
from types import ModuleType

import pytest

from dataplane.pdk import PDKError
from dataplane.plugins.testing import PluginHarness, Request


def calling(source: str) -> PluginHarness:
    """A harness whose one plugin runs ``source`` in access (``kong`` in scope)."""
    made = ModuleType("calls")
    body = textwrap.indent(textwrap.dedent(source), " " * 8)
    exec(f"class Plugin:\n    def __init__(self, config):\n        pass\n\n    def access(self, kong):\n{body}", made.__dict__)
    return PluginHarness(made, entities={"upstreams": [{"id": "u1", "name": "pool"}]})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("kong.service.set_target(1, 80)", "host must be a string"),
        ("kong.service.set_target('h', '80')", "port must be an integer"),
        ("kong.service.set_target('h', 70000)", "port must be an integer between 0 and 65535: given 70000"),
        ("kong.service.set_retries(1.5)", "retries must be an integer"),
        ("kong.service.set_retries(40000)", "retries must be an integer between 0 and 32767: given 40000"),
        ("kong.service.set_timeouts(0, 1, 1)", "connect_timeout must be an integer between 1 and 2147483646: given 0"),
        ("kong.service.set_timeouts(1, 1, None)", "read_timeout must be an integer"),
        ("kong.service.set_tls_verify('yes')", "argument must be a boolean"),
        ("kong.service.set_upstream('nowhere')", "could not find an Upstream named 'nowhere'"),
        ("kong.service.request.set_scheme('ftp')", "invalid scheme: ftp"),
        ("kong.service.request.set_body({'a': 1}, 'text/plain')", "unsupported content type 'text/plain'"),
        ("kong.service.request.set_raw_body(42)", "a body is bytes or a string, not int"),
    ],
)
def test_bad_arguments_get_kongs_messages(call: str, message: str):
    with pytest.raises(PDKError, match=message.replace("(", r"\(").replace(")", r"\)")):
        calling(call).run()


def test_changes_reach_the_upstream_request():
    sent = calling(
        """
        kong.service.set_timeouts(100, 200, 300)
        kong.service.set_retries(2)
        kong.service.request.set_scheme("https")
        kong.service.request.set_body({"n": [1, 2]})
        """
    ).run(Request("POST", "/", {"Content-Type": "application/json"}, b'{"n": 0}')).upstream
    assert sent.timeouts == (0.1, 0.2, 0.3) and sent.retries == 2 and sent.scheme == "https"
    assert sent.body == b'{"n":[1,2]}' and sent.headers["content-length"] == "11"


def test_set_target_skips_the_balancer_and_its_retries():
    sent = calling("kong.service.set_retries(4)\nkong.service.set_target('10.0.0.9', 8080)").run().upstream
    assert (sent.host, sent.port, sent.retries) == ("10.0.0.9", 8080, 0)
    assert sent.headers["host"] == "upstream.test"  # the service's Host stays


def test_set_target_is_for_access_only():
    harness = calling("pass")
    with pytest.raises(PDKError, match="kong.service.set_target is not allowed in the header_filter phase"):
        made = ModuleType("late")
        exec(
            "class Plugin:\n    def __init__(self, config):\n        pass\n\n"
            "    def header_filter(self, kong):\n        kong.service.set_target('h', 1)\n",
            made.__dict__,
        )
        PluginHarness(made).run()
    assert harness.run().response.status == 200


def test_header_entry_is_the_header_tables_entry():
    """kong.request.header_entry(name) (key-auth's lookup): get_headers()[name] without the
    table, a repeated field as a list, whatever the case of the name."""
    seen: list[tuple[object, object]] = []
    made = ModuleType("entries")
    made.seen = seen  # type: ignore[attr-defined]
    exec(
        "class Plugin:\n    def __init__(self, config):\n        pass\n\n"
        "    def access(self, kong):\n"
        "        table = kong.request.get_headers()\n"
        "        for name in ('apikey', 'x-twice', 'absent', 'ApiKey', 'x-empty', 'host'):\n"
        "            seen.append((kong.request.header_entry(name), table.get(name)))\n",
        made.__dict__,
    )
    headers = [("ApiKey", "k1"), ("X-Twice", "a, b"), ("x-twice", "c"), ("X-Empty", "")]
    PluginHarness(made).run(Request("GET", "/", headers))
    assert [entry for entry, _ in seen] == ["k1", ["a, b", "c"], None, None, "", "example.com"]
    assert all(entry == expected for entry, expected in seen)
