"""The lifecycle's parts without a node: the prefix lock across processes, the reason a
failed start prints, the listeners' TLS policy and the Admin API access log line."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import subprocess
import sys

import pytest

from controlplane.admin_log import AccessLog
from dataplane.conf import ConfError, load_conf
from dataplane.lifecycle import pidfile
from dataplane.lifecycle.control import _reason
from dataplane.listener_tls.policy import TlsPolicy


def test_a_held_prefix_is_refused_to_another_process(tmp_path):
    prefix = str(tmp_path)
    held = pidfile.hold(prefix)
    try:
        assert pidfile.locked(prefix)
        assert pidfile.running_pid(prefix) is None  # held, not yet up
        held.publish()
        assert pidfile.running_pid(prefix) == os.getpid()
        other = subprocess.run(
            [sys.executable, "-c", f"from dataplane.lifecycle import pidfile; pidfile.hold({prefix!r})"],
            capture_output=True,
            text=True,
        )
        assert other.returncode == 1
        assert f"AlreadyRunning: Gantry is already running in {prefix}" in other.stderr
    finally:
        pidfile.release()
    assert not pidfile.locked(prefix)
    assert not (tmp_path / "pids" / "nginx.pid").exists()


def test_the_reason_of_a_failed_start():
    log = (
        "2026/12/04 18:00:00 [notice] 1#0: start worker process 2\n"
        "2026/12/04 18:00:00 [error] 1#0: declarative config /x.yml is invalid, not starting:\n"
        "in 'services' > [0]: missing host\n"
    )
    assert _reason(log) == "declarative config /x.yml is invalid, not starting:\nin 'services' > [0]: missing host"
    assert _reason("noise\nError: database not bootstrapped\n") == "database not bootstrapped"
    assert _reason("") == ""


def policy(**settings: str) -> TlsPolicy:
    return TlsPolicy.from_conf(load_conf(None, env={}, overrides={"prefix": "/tmp/gantry-unit", **settings}))


def test_named_suites_decide_and_custom_takes_the_keys():
    assert policy().protocols == ("TLSv1.2", "TLSv1.3")
    assert policy(ssl_protocols="TLSv1.3").protocols == ("TLSv1.2", "TLSv1.3")  # Kong: ignored beside a suite
    assert policy(ssl_cipher_suite="modern").protocols == ("TLSv1.3",)
    custom = policy(ssl_cipher_suite="custom", ssl_protocols="TLSv1.1 TLSv1.3", ssl_prefer_server_ciphers="off")
    assert custom.protocols == ("TLSv1.1", "TLSv1.3") and not custom.prefer_server_ciphers
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    custom.apply(context)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_1
    assert context.maximum_version == ssl.TLSVersion.TLSv1_3
    assert context.options & ssl.OP_NO_TLSv1_2
    assert not context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ssl_cipher_suite": "custom", "ssl_protocols": "SSLv3"}, "ssl_protocols: SSLv3: not a protocol served"),
        ({"ssl_cipher_suite": "custom", "ssl_ciphers": "NOPE-CIPHER"}, "ssl_ciphers: OpenSSL accepts none"),
    ],
)
def test_what_cannot_be_served_is_refused(settings, message):
    with pytest.raises(ConfError, match=re.escape(message)):
        policy(**settings)


def test_the_access_line_is_nginx_combined(tmp_path):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b'{"id":"x"}'})

    log = AccessLog(app, str(tmp_path / "logs" / "admin_access.log"))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/services",
        "raw_path": b"/services",
        "query_string": b"a=1",
        "http_version": "1.1",
        "client": ("127.0.0.1", 5555),
        "headers": [(b"user-agent", b'curl "8"'), (b"referer", b"http://r/")],
    }

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        pass

    asyncio.run(log(scope, receive, send))
    line = (tmp_path / "logs" / "admin_access.log").read_text()
    assert re.fullmatch(
        r'127\.0\.0\.1 - - \[[^\]]+\] "POST /services\?a=1 HTTP/1\.1" 201 10 "http://r/" "curl \\x228\\x22"\n', line
    ), line
