"""The logging plugins file-log, http-log, tcp-log and udp-log through the real `dataplane run`
(2 workers) in front of an echo upstream, sending to collectors this test runs on loopback (an
HTTP one answering as each test scripts it, a TCP and a UDP listener), after Kong's
spec/03-plugins tests (01-tcp-log, 02-udp-log, 03-http-log, 04-file-log): the record is
kong.log.serialize's, the same for every plugin; http-log batches, retries and keeps requests
free of a dead or hanging collector."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from tests.support.ports import dead_port, free_port
from tests.support.raw_client import RawConnection, raw_request
from tests.support.raw_upstream import RawUpstream, Request
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

KEY = "secret-key"


class Collector(RawUpstream):
    """An HTTP collector: answers each path with the statuses scripted for it, in turn (200
    once they are used up); ``hang`` paths are never answered."""

    def __init__(self) -> None:
        self.statuses: dict[str, list[int]] = {}
        self.hang: set[str] = set()
        super().__init__()

    def answer(self, request: Request) -> bytes:
        if request.path in self.hang:
            return b""
        with self.lock:
            scripted = self.statuses.get(request.path)
            status = scripted.pop(0) if scripted else 200
        body = b"ok" if status < 300 else b"collector failing"
        return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)

    def received(self, path: str) -> list[Request]:
        return [request for request in self.requests_for(path) if request.complete]


class TcpListener:
    """Lines of JSON from every connection, in arrival order."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._read, args=(sock,), daemon=True).start()

    def _read(self, sock: socket.socket) -> None:
        pending = b""
        with sock:
            while True:
                try:
                    data = sock.recv(1 << 16)
                except OSError:
                    return
                if not data:
                    return
                *lines, pending = (pending + data).split(b"\n")
                with self.lock:
                    self.lines += lines

    def records(self) -> list[dict]:
        with self.lock:
            return [json.loads(line) for line in self.lines]

    def stop(self) -> None:
        self.listener.close()


class UdpListener:
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data, _ = self.sock.recvfrom(1 << 16)
            except OSError:
                return
            self.datagrams.append(data)

    def records(self) -> list[dict]:
        return [json.loads(datagram) for datagram in list(self.datagrams)]

    def stop(self) -> None:
        self.sock.close()


def plugin(name: str, **config: object) -> dict:
    return {"name": name, "config": config}


def config(upstream: int, collector: int, tcp: int, udp: int, logs: Path) -> str:
    http = f"http://127.0.0.1:{collector}"

    def route(name: str, *plugins: dict) -> dict:
        return {"name": name, "paths": [f"/{name}"], "plugins": list(plugins)}

    routes = [
        route(
            "all",
            plugin("file-log", path=str(logs / "all.log")),
            plugin("http-log", http_endpoint=f"{http}/all"),
            plugin("tcp-log", host="127.0.0.1", port=tcp),
            plugin("udp-log", host="127.0.0.1", port=udp),
        ),
        route("file", plugin("file-log", path=str(logs / "file.log"))),
        route("file-reopen", plugin("file-log", path=str(logs / "reopen.log"), reopen=True)),
        route("file-keyed", plugin("key-auth"), plugin("file-log", path=str(logs / "keyed.log"))),
        route(
            "http",
            plugin(
                "http-log",
                http_endpoint=f"http://bob:s3cret@127.0.0.1:{collector}/http?dropped=1",
                method="PUT",
                content_type="application/json; charset=utf-8",
                headers={"X-Collector-Key": "abc", "X-Other": "1"},
            ),
        ),
        route(
            "http-batch",
            plugin("http-log", http_endpoint=f"{http}/batch", queue={"max_batch_size": 5, "max_coalescing_delay": 2}),
        ),
        route("http-legacy", plugin("http-log", http_endpoint=f"{http}/legacy", queue_size=3, flush_timeout=2)),
        route(
            "http-flaky",
            plugin("http-log", http_endpoint=f"{http}/flaky", queue={"initial_retry_delay": 0.05}),
        ),
        route(
            "http-dead",
            plugin(
                "http-log",
                http_endpoint=f"http://127.0.0.1:{dead_port()}/dead",
                queue={"max_entries": 3, "initial_retry_delay": 0.05, "max_retry_delay": 0.2},
            ),
        ),
        route(
            "http-hang",
            plugin("http-log", http_endpoint=f"{http}/hang", timeout=30000, queue={"max_entries": 5}),
        ),
    ]
    document = {
        "_format_version": "3.0",
        "consumers": [{"username": "bob", "keyauth_credentials": [{"key": KEY}]}],
        "services": [{"name": "echo", "url": f"http://127.0.0.1:{upstream}", "routes": routes}],
    }
    return json.dumps(document)


def one_route(url: str, *plugins: dict, **document: object) -> str:
    """A kong.yml of one service (``url``) with one route, /t, running ``plugins``."""
    service = {"name": "s", "url": url, "routes": [{"name": "t", "paths": ["/t"], "plugins": list(plugins)}]}
    return json.dumps({"_format_version": "3.0", "services": [service], **document})


@pytest.fixture(scope="module")
def collector():
    server = Collector()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tcp():
    listener = TcpListener()
    yield listener
    listener.stop()


@pytest.fixture(scope="module")
def udp():
    listener = UdpListener()
    yield listener
    listener.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def gw(module_gateway_factory, module_upstream, collector, tcp, udp, logs):
    collector.hang.add("/hang")
    yml = config(module_upstream.port, collector.port, tcp.port, udp.port, logs)
    return module_gateway_factory(yml, name="logging")


def get(gw, path: str, *headers: str):
    head = "".join(f"{line}\r\n" for line in headers)
    return raw_request(gw.port, f"GET {path} HTTP/1.1\r\nHost: logs.test\r\n{head}\r\n".encode())


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def request_ids(records: list[dict]) -> list[str]:
    return [record["request"]["id"] for record in records]


# ---- the record ----------------------------------------------------------------------------------


def test_every_plugin_sends_the_same_record(gw, collector, tcp, udp, logs, module_upstream):
    response = get(gw, "/all/orders?id=7", "Authorization: Basic Ym9iOnNlY3JldA==", "X-Trace: t1")
    assert response.status == 200
    request_id = response.header("x-kong-request-id")

    def found() -> list[dict] | None:
        records = [
            *[r for r in lines(logs / "all.log") if r["request"]["id"] == request_id],
            *[
                json.loads(r.body)
                for r in collector.received("/all")
                if json.loads(r.body)["request"]["id"] == request_id
            ],
            *[r for r in tcp.records() if r["request"]["id"] == request_id],
            *[r for r in udp.records() if r["request"]["id"] == request_id],
        ]
        return records if len(records) == 4 else None

    file_record, http_record, tcp_record, udp_record = wait_for(found, 10, message="the record from each plugin")
    assert file_record == http_record == tcp_record == udp_record
    record = file_record
    assert record["request"]["headers"]["authorization"] == "REDACTED"
    assert record["request"]["headers"]["x-trace"] == "t1"
    assert record["request"]["method"] == "GET"
    assert record["request"]["uri"] == "/all/orders?id=7"
    assert record["request"]["url"] == f"http://logs.test:{gw.port}/all/orders?id=7"
    assert record["request"]["querystring"] == {"id": "7"}
    assert record["upstream_uri"] == "/orders?id=7"  # the route strips its path
    assert record["upstream_status"] == "200"
    assert record["response"]["status"] == 200
    assert record["response"]["headers"]["x-kong-request-id"] == request_id
    assert record["response"]["size"] >= len(response.body)
    assert record["route"]["name"] == "all" and record["service"]["name"] == "echo"
    assert record["client_ip"] == "127.0.0.1"
    assert set(record["latencies"]) == {"kong", "proxy", "request", "receive"}
    assert record["latencies"]["request"] >= record["latencies"]["proxy"] >= 0
    (only,) = record["tries"]
    assert (only["ip"], only["port"]) == ("127.0.0.1", module_upstream.port)
    assert abs(only["balancer_start"] - record["started_at"]) < 5000
    assert record["source"] == "upstream"
    assert record["workspace_name"] == "default"
    assert "consumer" not in record and "authenticated_entity" not in record


def test_file_log_appends_one_line_per_request(gw, logs):
    ids = [get(gw, f"/file/{i}").header("x-kong-request-id") for i in range(5)]
    ids += [get(gw, "/file-reopen").header("x-kong-request-id") for _ in range(3)]
    wait_for(lambda: set(ids[:5]) <= set(request_ids(lines(logs / "file.log"))), 10, message="file-log's lines")
    wait_for(lambda: set(ids[5:]) <= set(request_ids(lines(logs / "reopen.log"))), 10, message="reopen's lines")
    assert sorted(request_ids(lines(logs / "file.log"))) == sorted(ids[:5])
    umask = os.umask(0)
    os.umask(umask)
    assert (logs / "file.log").stat().st_mode & 0o777 == 0o644 & ~umask  # Kong's mode, as the umask leaves it


def test_file_log_reopen_follows_a_rotated_file(gw, logs):
    first = get(gw, "/file-reopen").header("x-kong-request-id")
    wait_for(lambda: first in request_ids(lines(logs / "reopen.log")), 10, message="the line before rotation")
    (logs / "reopen.log").rename(logs / "reopen.log.1")
    second = get(gw, "/file-reopen").header("x-kong-request-id")
    wait_for(lambda: second in request_ids(lines(logs / "reopen.log")), 10, message="a new file after rotation")
    assert first not in request_ids(lines(logs / "reopen.log"))


def test_the_consumer_and_credential_are_logged(gw, logs):
    response = get(gw, "/file-keyed", f"apikey: {KEY}")
    assert response.status == 200
    request_id = response.header("x-kong-request-id")
    refused = get(gw, "/file-keyed").header("x-kong-request-id")

    def records() -> dict[str, dict] | None:
        found = {r["request"]["id"]: r for r in lines(logs / "keyed.log")}
        return found if request_id in found and refused in found else None

    found = wait_for(records, 10, message="the keyed route's lines")
    record = found[request_id]
    assert record["consumer"]["username"] == "bob"
    assert record["authenticated_entity"]["consumer_id"] == record["consumer"]["id"]
    assert "id" in record["authenticated_entity"]
    assert found[refused]["response"]["status"] == 401
    assert found[refused]["source"] == "kong" and found[refused]["latencies"]["proxy"] == -1


# ---- http-log ------------------------------------------------------------------------------------


def test_http_log_request_method_headers_and_basic_auth_from_userinfo(gw, collector):
    request_id = get(gw, "/http").header("x-kong-request-id")
    (sent,) = wait_for(lambda: collector.received("/http"), 10, message="http-log's request")
    assert sent.method == "PUT"
    assert sent.target == "/http"  # Kong sends the endpoint's path only
    assert sent.header("content-type") == "application/json; charset=utf-8"
    assert sent.header("authorization") == "Basic " + base64.b64encode(b"bob:s3cret").decode()
    assert sent.header("x-collector-key") == "abc" and sent.header("x-other") == "1"
    assert sent.header("host") == f"127.0.0.1:{collector.port}"
    assert int(sent.header("content-length")) == len(sent.body)
    assert json.loads(sent.body)["request"]["id"] == request_id  # one record, not an array


def test_http_log_batches_up_to_max_batch_size_as_json_arrays(gw, collector):
    with RawConnection(gw.port) as conn:  # one connection: one worker, one queue
        for i in range(10):
            conn.send(f"GET /http-batch/{i} HTTP/1.1\r\nHost: logs.test\r\n\r\n".encode())
            assert conn.read_one().status == 200
    wait_for(lambda: sum(len(json.loads(r.body)) for r in collector.received("/batch")) == 10, 15, message="10 records")
    batches = [json.loads(r.body) for r in collector.received("/batch")]
    assert all(isinstance(batch, list) for batch in batches)
    assert [len(batch) for batch in batches] == [5, 5]
    uris = [record["request"]["uri"] for batch in batches for record in batch]
    assert uris == [f"/http-batch/{i}" for i in range(10)]


def test_http_log_reads_the_deprecated_queue_size_into_the_queue(gw, collector):
    with RawConnection(gw.port) as conn:
        for i in range(3):
            conn.send(f"GET /http-legacy/{i} HTTP/1.1\r\nHost: logs.test\r\n\r\n".encode())
            assert conn.read_one().status == 200
    (sent,) = wait_for(lambda: collector.received("/legacy"), 10, message="the legacy batch")
    assert len(json.loads(sent.body)) == 3
    wait_for(lambda: "the queue_size parameter is deprecated" in gw.error_log(), 5, message="the deprecation warning")


def test_http_log_retries_a_failing_collector_until_it_recovers(gw, collector):
    with collector.lock:
        collector.statuses["/flaky"] = [500, 500, 503]
    response = get(gw, "/http-flaky")
    assert response.status == 200
    request_id = response.header("x-kong-request-id")
    tries = wait_for(
        lambda: (lambda got: got if len(got) == 4 else None)(collector.received("/flaky")),
        15,
        message="three failures, then a success",
    )
    assert {json.loads(one.body)["request"]["id"] for one in tries} == {request_id}  # the same entry each time
    log = gw.error_log()
    assert f"request to 127.0.0.1:{collector.port} returned status code 500 and body collector failing" in log
    assert "returned status code 503" in log
    time.sleep(0.3)
    assert len(collector.received("/flaky")) == 4  # sent, not sent again


def test_a_dead_collector_costs_log_lines_and_a_bounded_queue(gw):
    with RawConnection(gw.port) as conn:
        for i in range(20):
            conn.send(f"GET /http-dead/{i} HTTP/1.1\r\nHost: logs.test\r\n\r\n".encode())
            assert conn.read_one().status == 200
    wait_for(lambda: "queue full, dropping old entries" in gw.error_log(), 10, message="the full queue said")
    assert "failed request to 127.0.0.1:" in gw.error_log() and "connection refused" in gw.error_log()


def test_a_hanging_collector_never_holds_a_request(gw, collector):
    """The collector takes the first batch and never answers (http-log's timeout is 30 s):
    every request is answered meanwhile, while the collector still holds that first one."""
    answered = 0
    with RawConnection(gw.port) as conn:
        for i in range(40):
            conn.send(f"GET /http-hang/{i} HTTP/1.1\r\nHost: logs.test\r\n\r\n".encode())
            answered += conn.read_one(timeout=5).status == 200
    assert answered == 40
    wait_for(lambda: collector.requests_for("/hang"), 10, message="the collector holding a request")
    assert len(collector.requests_for("/hang")) == 1  # concurrency_limit 1: the rest wait in the queue
    assert "timeout" not in "".join(
        line for line in gw.error_log().splitlines() if "/hang" in line or "http-log" in line
    )
    wait_for(lambda: "queue full, dropping old entries" in gw.error_log(), 10, message="the bounded queue")
    # the collector recovers: what the queue kept goes (and the gateway stops without waiting on it)
    collector.hang.discard("/hang")
    with collector.lock:
        held = [c for c in collector.connections if any(r.path == "/hang" for r in c.requests)]
    for connection in held:
        connection.sock.shutdown(socket.SHUT_RDWR)
    wait_for(lambda: len(collector.received("/hang")) >= 6, 10, message="the kept entries sent")


# ---- tcp-log and udp-log -------------------------------------------------------------------------


def test_tcp_log_keeps_its_connection(gw, tcp):
    before = tcp.connections
    with RawConnection(gw.port) as conn:
        ids = []
        for _ in range(5):
            conn.send(b"GET /all HTTP/1.1\r\nHost: logs.test\r\n\r\n")
            ids.append(conn.read_one().header("x-kong-request-id"))
    wait_for(lambda: set(ids) <= set(request_ids(tcp.records())), 10, message="tcp-log's lines")
    assert tcp.connections - before <= 1  # one worker's kept connection, opened once at most


def test_udp_log_sends_a_datagram_per_request(gw, udp):
    ids = [get(gw, "/all").header("x-kong-request-id") for _ in range(3)]
    wait_for(lambda: set(ids) <= set(request_ids(udp.records())), 10, message="udp-log's datagrams")


def test_a_down_tcp_collector_is_logged_and_requests_go_on(gateway_factory, module_upstream, tmp_path):
    port = dead_port()
    upstream = f"http://127.0.0.1:{module_upstream.port}"
    yml = one_route(
        upstream, plugin("tcp-log", host="127.0.0.1", port=port), plugin("udp-log", host="127.0.0.1", port=port)
    )
    gw = gateway_factory(yml, workers=1)
    assert all(get(gw, "/t").status == 200 for _ in range(5))
    wait_for(lambda: f"failed to connect to 127.0.0.1:{port}" in gw.error_log(), 10, message="the refused connect")
    assert "Traceback" not in gw.error_log()


# ---- tries, retries and TLS ----------------------------------------------------------------------


def test_a_retried_try_is_recorded_as_kong_records_it(gateway_factory, module_upstream, tmp_path):
    dead = dead_port()
    targets = [{"target": f"127.0.0.1:{dead}"}, {"target": f"127.0.0.1:{module_upstream.port}"}]
    yml = one_route(
        "http://pair:80",
        plugin("file-log", path=str(tmp_path / "t.log")),
        upstreams=[{"name": "pair", "targets": targets}],
    )
    gw = gateway_factory(yml, workers=1)
    with RawConnection(gw.port) as conn:
        for _ in range(4):
            conn.send(b"GET /t HTTP/1.1\r\nHost: logs.test\r\n\r\n")
            assert conn.read_one().status == 200
    records = wait_for(
        lambda: (lambda got: got if len(got) == 4 else None)(lines(tmp_path / "t.log")), 10, message="4 lines"
    )
    retried = [record for record in records if len(record["tries"]) == 2]
    assert retried  # round-robin sends every other request to the dead target first
    for record in retried:
        failed, served = record["tries"]
        assert (failed["ip"], failed["port"], failed["state"], failed["code"]) == ("127.0.0.1", dead, "failed", 502)
        assert (served["port"], "state" in served) == (module_upstream.port, False)
        assert served["balancer_start"] >= failed["balancer_start"]
        assert record["upstream_status"] == "502, 200"
    for record in records:
        if len(record["tries"]) == 1:
            assert record["upstream_status"] == "200"


def test_a_tls_request_is_recorded_with_its_tls(gateway_factory, module_upstream, tmp_path):
    tls_port = free_port()
    yml = one_route(f"http://127.0.0.1:{module_upstream.port}", plugin("file-log", path=str(tmp_path / "tls.log")))
    gateway_factory(yml, workers=1, conf={"proxy_listen": f"127.0.0.1:{free_port()}, 127.0.0.1:{tls_port} ssl"})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw, context.wrap_socket(raw) as sock:
        sock.sendall(b"GET /t HTTP/1.1\r\nHost: logs.test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        version, cipher = sock.version(), sock.cipher()[0]
    assert data.startswith(b"HTTP/1.1 200")
    (record,) = wait_for(lambda: lines(tmp_path / "tls.log"), 10, message="the TLS request's line")
    assert record["request"]["tls"] == {"version": version, "cipher": cipher, "client_verify": "NONE"}
    assert record["request"]["url"].startswith("https://logs.test:")


def test_a_stopping_gateway_sends_what_its_queues_hold(gateway_factory, module_upstream, collector):
    endpoint = f"http://127.0.0.1:{collector.port}/stop"
    yml = one_route(
        f"http://127.0.0.1:{module_upstream.port}",
        plugin("http-log", http_endpoint=endpoint, queue={"max_batch_size": 100, "max_coalescing_delay": 600}),
    )
    gw = gateway_factory(yml, workers=1)
    with RawConnection(gw.port) as conn:
        for _ in range(3):
            conn.send(b"GET /t HTTP/1.1\r\nHost: logs.test\r\n\r\n")
            assert conn.read_one().status == 200
    time.sleep(0.2)
    assert collector.received("/stop") == []  # coalescing for ten minutes
    assert gw.stop() == 0
    (batch,) = collector.received("/stop")
    assert len(json.loads(batch.body)) == 3


def test_a_changed_config_takes_effect_at_once(gateway_factory, module_upstream, collector):
    """Kong's "puts changed configuration into effect immediately": the queue (named by the
    collector's parameters, which did not change) sends with the new config's headers."""
    endpoint = f"http://127.0.0.1:{collector.port}/change"
    upstream = f"http://127.0.0.1:{module_upstream.port}"

    def yml(value: str) -> str:
        return one_route(upstream, plugin("http-log", http_endpoint=endpoint, headers={"key1": value}))

    gw = gateway_factory(yml("value1"), workers=1)
    assert get(gw, "/t").status == 200
    (first,) = wait_for(lambda: collector.received("/change"), 10, message="the first record")
    assert first.header("key1") == "value1"
    gw.reload(yml("value2"))
    gw.wait_version(2)
    assert get(gw, "/t").status == 200
    wait_for(lambda: len(collector.received("/change")) == 2, 10, message="the second record")
    assert collector.received("/change")[1].header("key1") == "value2"


def test_a_global_logging_plugin_logs_a_request_no_route_matched(gateway_factory, module_upstream, tmp_path):
    """Kong's "executes successfully when route does not exist": the global plugins see the 404."""
    path = tmp_path / "global.log"
    yml = one_route(f"http://127.0.0.1:{module_upstream.port}", plugins=[plugin("file-log", path=str(path))])
    gw = gateway_factory(yml, workers=1)
    missed = get(gw, "/nowhere")
    assert missed.status == 404
    routed = get(gw, "/t")
    assert routed.status == 200
    records = wait_for(lambda: (lambda got: got if len(got) == 2 else None)(lines(path)), 10, message="two lines")
    by_id = {record["request"]["id"]: record for record in records}
    record = by_id[missed.header("x-kong-request-id")]
    assert record["response"]["status"] == 404 and record["source"] == "kong"
    assert "route" not in record and "service" not in record
    assert by_id[routed.header("x-kong-request-id")]["route"]["name"] == "t"
