"""`dataplane run` with role = data_plane (2 workers) against a control plane on loopback.

The control plane here is a small gRPC server implementing proto/cluster.proto with the
generated stubs, over real mutual TLS: it records what the data plane sends, answers pings and
sends whatever a test pushes.
"""

from __future__ import annotations

import datetime
import gzip
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import orjson
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dataplane import __version__
from dataplane.cluster.protocol import cluster_pb2 as pb, cluster_pb2_grpc
from dataplane.declarative import EMPTY_HASH, config_hash, parse_text
from dataplane.plugins.bundled import key_auth
from tests.support.model_data_plane import bundled_plugins
from tests.support.ports import free_port
from tests.support.waiting import wait_for

# ---- the stand-in control plane ------------------------------------------------------------------


class FakeControlPlane(cluster_pb2_grpc.ClusterServicer):
    def __init__(self, cert: bytes, key: bytes, client_ca: bytes, port: int = 0) -> None:
        self.server = grpc.server(ThreadPoolExecutor(max_workers=16), options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        cluster_pb2_grpc.add_ClusterServicer_to_server(self, self.server)
        credentials = grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                                  require_client_auth=True)
        self.port = self.server.add_secure_port(f"127.0.0.1:{port}", credentials)
        self.lock = threading.Lock()
        self.received: list[pb.DataPlaneMessage] = []
        self.streams: list[queue.Queue] = []
        self.on_hello = lambda hello: []  # -> messages sent after that Hello
        self.server.start()

    def Connect(self, request_iterator, context):
        outbox: queue.Queue = queue.Queue()
        with self.lock:
            self.streams.append(outbox)

        def read() -> None:
            try:
                for msg in request_iterator:
                    with self.lock:
                        self.received.append(msg)
                    kind = msg.WhichOneof("kind")
                    if kind == "hello":
                        for answer in self.on_hello(msg.hello):
                            outbox.put(answer)
                    elif kind == "ping":
                        outbox.put(pb.ControlPlaneMessage(pong=pb.Pong(config_version=msg.ping.config_version)))
            except grpc.RpcError:
                pass
            finally:
                outbox.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            while (msg := outbox.get()) is not None:
                yield msg
        finally:
            with self.lock:
                self.streams.remove(outbox)

    # -- test side

    def push(self, msg: pb.ControlPlaneMessage) -> None:
        wait_for(lambda: self.streams, message="a data plane connected")
        with self.lock:
            for outbox in self.streams:
                outbox.put(msg)

    def of_kind(self, kind: str) -> list:
        with self.lock:
            return [getattr(m, kind) for m in self.received if m.WhichOneof("kind") == kind]

    def wait_ack(self, version: int, applied: bool | None = None, timeout: float = 15.0) -> pb.Ack:
        return wait_for(lambda: next((a for a in self.of_kind("ack") if a.version == version
                                      and applied in (None, a.applied)), None),
                        timeout=timeout, message=f"an ack of version {version}")

    def stop(self) -> None:
        self.server.stop(None).wait()


def full_config(yml: str, version: int) -> pb.ControlPlaneMessage:
    flat = parse_text(yml)
    digest, per_type = config_hash(flat)
    return pb.ControlPlaneMessage(full=pb.FullConfig(
        version=version, hash=digest, hashes=per_type, encoding="gzip+json", payload=gzip.compress(orjson.dumps(flat))))


def delta(from_version: int, to_version: int, upserts: dict, deletes: dict, after: str) -> pb.ControlPlaneMessage:
    digest, per_type = config_hash(parse_text(after))
    payload = gzip.compress(orjson.dumps({"upserts": upserts, "deletes": deletes}))
    return pb.ControlPlaneMessage(delta=pb.Delta(
        from_version=from_version, to_version=to_version, hash=digest, hashes=per_type,
        encoding="gzip+json", payload=payload))


def answer_with(*messages: pb.ControlPlaneMessage):
    """on_hello: send these unless the data plane already has the last one's version."""
    def on_hello(hello: pb.Hello) -> list:
        last = messages[-1].full if messages[-1].WhichOneof("kind") == "full" else None
        if last is not None and hello.config_version == last.version and hello.config_hash == last.hash:
            return []
        return list(messages)
    return on_hello


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate like `kong hybrid gen_cert` writes: EC P-384, CN=kong_clustering."""
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kong_clustering")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# ---- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def cluster_cert(tmp_path):
    return self_signed(tmp_path, "cluster")


@pytest.fixture
def control_planes(cluster_cert):
    """Start stand-in control planes sharing the cluster certificate; all stopped afterwards."""
    started: list[FakeControlPlane] = []
    cert, key = (p.read_bytes() for p in cluster_cert)

    def start(port: int = 0, server_cert: tuple[bytes, bytes] | None = None) -> FakeControlPlane:
        cp = FakeControlPlane(*(server_cert or (cert, key)), client_ca=cert, port=port)
        started.append(cp)
        return cp

    yield start
    for cp in started:
        cp.stop()


@pytest.fixture
def data_plane(gateway_factory, cluster_cert):
    def start(ports: list[int] | int, yml: str | None = None, wait: bool = True, extra: dict | None = None,
              name: str = "dp"):
        ports = [ports] if isinstance(ports, int) else ports
        conf = {
            "role": "data_plane",
            "cluster_control_plane": ",".join(f"127.0.0.1:{p}" for p in ports),
            "cluster_cert": str(cluster_cert[0]),
            "cluster_cert_key": str(cluster_cert[1]),
            "cluster_dp_labels": "region:eu,tier:edge",
            **(extra or {}),
        }
        return gateway_factory(yml, workers=2, conf=conf, wait=wait, name=name)
    return start


def routes_yml(port: int, *paths: str) -> str:
    routes = "".join(f"      - name: r{i}\n        paths: [{p}]\n" for i, p in enumerate(paths))
    return (f"_format_version: '3.0'\nservices:\n  - name: echo\n    url: http://127.0.0.1:{port}\n"
            f"    routes:\n{routes}")


def restart(gateway, wait: bool = True):
    gateway.stop()
    return gateway.start(wait=wait)


# ---- tests ------------------------------------------------------------------------------------------


def test_full_config_applied_served_and_acked(control_planes, data_plane, upstream):
    cp = control_planes()
    config = full_config(routes_yml(upstream.port, "/one"), version=5)
    cp.on_hello = answer_with(config)
    gw = data_plane(cp.port)
    gw.wait_version(5)
    assert gw.request("GET", "/one")[0] == 200
    assert gw.request("GET", "/two")[0] == 404
    ack = cp.wait_ack(5)
    assert ack.applied and ack.hash == config.full.hash and not ack.error

    hello = cp.of_kind("hello")[0]
    node_id = (gw.prefix / "node.id").read_text().strip()
    assert hello.node_id == node_id
    assert hello.version == __version__ and hello.hostname
    assert dict(hello.labels) == {"region": "eu", "tier": "edge"}
    # exactly what this node runs (`plugins = bundled`), each at its own version
    plugins = {plugin.name: plugin.version for plugin in hello.plugins}
    assert plugins == bundled_plugins() and plugins["key-auth"] == key_auth.version
    assert "datadog" not in plugins
    assert (hello.config_version, hello.config_hash) == (0, EMPTY_HASH)
    # a ping right after the apply reports the new hash
    wait_for(lambda: any(p.config_hash == config.full.hash for p in cp.of_kind("ping")), message="ping after apply")

    body = gw.status()[1]
    assert body["configuration_version"] == 5 and body["configuration_hash"] == config.full.hash
    link = body["control_plane"]
    assert link["connected"] is True and link["address"] == f"127.0.0.1:{cp.port}"
    assert abs(link["last_seen"] - time.time()) < 30

    # After a restart: same node id, and the Hello states the stored config (nothing re-sent).
    restart(gw)
    wait_for(lambda: len(cp.of_kind("hello")) == 2, message="second hello")
    hello = cp.of_kind("hello")[1]
    assert (hello.node_id, hello.config_version, hello.config_hash) == (node_id, 5, config.full.hash)
    assert gw.request("GET", "/one")[0] == 200


def test_delta_adds_and_removes_routes(control_planes, data_plane, upstream):
    cp = control_planes()
    v1 = routes_yml(upstream.port, "/a")
    cp.on_hello = answer_with(full_config(v1, version=1))
    gw = data_plane(cp.port)
    gw.wait_version(1)
    flat1 = parse_text(v1)

    v2 = routes_yml(upstream.port, "/a", "/b")
    flat2 = parse_text(v2)
    new_route = next(r for r in flat2["routes"] if r["paths"] == ["/b"])
    cp.push(delta(1, 2, {"routes": [new_route]}, {}, v2))
    assert cp.wait_ack(2).applied
    gw.wait_version(2)
    assert gw.request("GET", "/b")[0] == 200

    v3 = routes_yml(upstream.port, "/b")
    old_route = next(r for r in flat1["routes"] if r["paths"] == ["/a"])
    cp.push(delta(2, 3, {}, {"routes": [old_route["id"]]}, v3))
    assert cp.wait_ack(3).applied
    gw.wait_version(3)
    assert gw.request("GET", "/a")[0] == 404
    assert gw.request("GET", "/b")[0] == 200
    assert gw.status()[1]["configuration_hash"] == config_hash(parse_text(v3))[0]


def test_invalid_config_acked_with_error_and_old_one_kept(control_planes, data_plane, upstream):
    cp = control_planes()
    good = routes_yml(upstream.port, "/good")
    cp.on_hello = answer_with(full_config(good, version=1))
    gw = data_plane(cp.port)
    gw.wait_version(1)

    # A schema violation, a dangling reference and a regex the router refuses: none is stored.
    bad = parse_text(routes_yml(upstream.port, "/bad"))
    bad["services"][0]["port"] = "eighty"
    bad["routes"].append({**bad["routes"][0], "id": "7d3c0b5e-0000-4000-8000-000000000001", "name": "orphan",
                          "service": {"id": "7d3c0b5e-0000-4000-8000-000000000002"}})
    digest, per_type = config_hash(bad)
    cp.push(pb.ControlPlaneMessage(full=pb.FullConfig(version=2, hash=digest, hashes=per_type, encoding="gzip+json",
                                                      payload=gzip.compress(orjson.dumps(bad)))))
    ack = cp.wait_ack(2)
    assert not ack.applied
    assert "port: expected an integer" in ack.error and "invalid reference" in ack.error

    # Valid for the schema (PCRE), refused by the router's engine: the compile check catches it.
    cp.push(full_config(routes_yml(upstream.port, '"~/(?<=a)b"'), version=3))
    ack = cp.wait_ack(3)
    assert not ack.applied and "invalid regex" in ack.error

    cp.push(pb.ControlPlaneMessage(full=pb.FullConfig(version=4, hash="0" * 32, encoding="gzip+json", payload=b"junk")))
    assert "gzip" in cp.wait_ack(4).error

    body = gw.status()[1]
    assert body["configuration_version"] == 1
    assert gw.request("GET", "/good")[0] == 200
    assert "rejected, still serving version 1" in gw.error_log()

    # A delta computed from another version is refused, and a ping states what is still served.
    pings = len(cp.of_kind("ping"))
    cp.push(delta(7, 8, {}, {}, good))
    ack = cp.wait_ack(8)
    assert not ack.applied and "version 1 is stored" in ack.error
    wait_for(lambda: len(cp.of_kind("ping")) > pings, message="a ping after the rejected delta")
    assert cp.of_kind("ping")[-1].config_version == 1
    assert gw.request("GET", "/good")[0] == 200
    # the full config a control plane answers with is applied
    cp.push(full_config(routes_yml(upstream.port, "/next"), version=8))
    cp.wait_ack(8, applied=True)
    gw.wait_version(8)
    assert gw.request("GET", "/next")[0] == 200


NOT_ENABLED = "plugin '{}' not enabled; add it to the 'plugins' configuration property"


def with_plugin(yml: str, name: str) -> str:
    """The routes yml with plugin `name` on its service."""
    return yml + f"    plugins:\n      - name: {name}\n"


def test_a_config_using_a_plugin_the_node_does_not_run_is_refused(control_planes, data_plane, upstream):
    """`plugins = key-auth`: cors (bundled, not named) and datadog (not run by Gantry) are not
    enabled on this node; a config using either is acked with Kong's reason, the old one kept."""
    cp = control_planes()
    good = with_plugin(routes_yml(upstream.port, "/good"), "key-auth")
    cp.on_hello = answer_with(full_config(good, version=1))
    gw = data_plane(cp.port, extra={"plugins": "key-auth"})
    gw.wait_version(1)
    hello = cp.of_kind("hello")[0]
    assert {p.name: p.version for p in hello.plugins} == {"key-auth": key_auth.version}

    cp.push(full_config(with_plugin(routes_yml(upstream.port, "/open"), "cors"), version=2))
    ack = cp.wait_ack(2)
    assert not ack.applied and NOT_ENABLED.format("cors") in ack.error

    # a delta adding a plugin entity the node cannot run is refused the same way
    flat = parse_text(good)
    datadog = {**flat["plugins"][0], "id": "7d3c0b5e-0000-4000-8000-0000000000dd", "name": "datadog",
               "instance_name": None, "config": {}}
    cp.push(delta(1, 3, {"plugins": [datadog]}, {}, good))
    ack = cp.wait_ack(3)
    assert not ack.applied and NOT_ENABLED.format("datadog") in ack.error

    assert gw.status()[1]["configuration_version"] == 1
    assert gw.request("GET", "/good")[0] == 401  # key-auth still guards it
    assert gw.request("GET", "/open")[0] == 404
    log = gw.error_log()
    assert "rejected, still serving version 1" in log and NOT_ENABLED.format("datadog") in log


def test_a_cached_config_using_a_plugin_no_longer_run_is_not_served(control_planes, data_plane, upstream):
    cp = control_planes()
    cp.on_hello = answer_with(full_config(with_plugin(routes_yml(upstream.port, "/guarded"), "key-auth"), version=3))
    gw = data_plane(cp.port)
    gw.wait_version(3)
    assert gw.request("GET", "/guarded")[0] == 401
    gw.stop()
    cp.stop()

    # restarted without key-auth and no control plane: serving the cache would open the route
    gw.set_conf(plugins="cors")
    gw.start(wait=False)
    wait_for(lambda: _status_code(gw, "/status/ready") == 503, message="status up")
    wait_for(lambda: "has plugins this node does not run: key-auth" in gw.error_log(), message="the cache refused")
    assert gw.request("GET", "/guarded")[0] == 404


def test_refusal_logged_and_cached_config_kept(control_planes, data_plane, upstream):
    cp = control_planes()
    cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/cached"), version=3))
    gw = data_plane(cp.port)
    gw.wait_version(3)
    gw.stop()

    cp.on_hello = lambda hello: [pb.ControlPlaneMessage(refusal=pb.Refusal(
        sync_status="kong_version_incompatible", reason="data plane version 9.0.0 is incompatible"))]
    gw.start()
    wait_for(lambda: "kong_version_incompatible" in gw.error_log(), message="refusal logged")
    log = gw.error_log()
    assert "data plane version 9.0.0 is incompatible" in log and "still serving configuration version 3" in log
    assert gw.status()[1]["configuration_version"] == 3
    assert gw.request("GET", "/cached")[0] == 200


def test_control_plane_down_at_start_serves_lmdb_cache(control_planes, data_plane, upstream):
    cp = control_planes()
    cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/cached"), version=4))
    gw = data_plane(cp.port)
    gw.wait_version(4)
    gw.stop()
    cp.stop()

    gw.start()  # ready at once from LMDB, no declarative_config, no control plane
    assert gw.status()[1]["configuration_version"] == 4
    assert gw.request("GET", "/cached")[0] == 200
    link = gw.status()[1]["control_plane"]
    assert link["connected"] is False


def test_new_data_plane_with_control_plane_down_serves_declarative_config(control_planes, data_plane, upstream):
    port = free_port()
    gw = data_plane(port, yml=routes_yml(upstream.port, "/from-file"))
    assert gw.request("GET", "/from-file")[0] == 200
    assert gw.status()[1]["configuration_version"] == 0

    # Once a control plane answers, its config wins over the file.
    cp = control_planes(port=port)
    cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/from-cp"), version=2))
    hello = wait_for(lambda: cp.of_kind("hello"), timeout=40, message="hello")[0]
    assert hello.config_version == 0 and hello.config_hash != EMPTY_HASH
    gw.wait_version(2)
    assert gw.request("GET", "/from-cp")[0] == 200
    assert gw.request("GET", "/from-file")[0] == 404

    # and stays the config after a restart, file or not
    restart(gw)
    assert gw.status()[1]["configuration_version"] == 2
    assert gw.request("GET", "/from-cp")[0] == 200


def test_brand_new_data_plane_without_any_config_is_not_ready(data_plane):
    gw = data_plane(free_port(), wait=False)
    wait_for(lambda: _status_code(gw, "/status/ready") == 503, message="status up")
    assert gw.request("GET", "/")[0] == 404
    assert gw.status()[1]["control_plane"]["connected"] is False


def _status_code(gw, path: str) -> int | None:
    try:
        return gw.status(path)[0]
    except OSError:
        return None


def test_failover_between_control_planes(control_planes, data_plane, upstream):
    down = free_port()
    cp = control_planes()
    cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/b"), version=1))
    gw = data_plane([down, cp.port])
    gw.wait_version(1)
    assert gw.status()[1]["control_plane"]["address"] == f"127.0.0.1:{cp.port}"

    # The second one goes away, the first comes up: the node keeps trying both.
    cp.stop()
    first = control_planes(port=down)
    first.on_hello = answer_with(full_config(routes_yml(upstream.port, "/a"), version=2))
    gw.wait_version(2, timeout=40)
    assert gw.request("GET", "/a")[0] == 200
    assert gw.status()[1]["control_plane"]["address"] == f"127.0.0.1:{down}"


def test_reconnects_after_control_plane_restart(control_planes, data_plane, upstream):
    cp = control_planes()
    port = cp.port
    cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/v1"), version=1))
    gw = data_plane(port)
    gw.wait_version(1)
    cp.stop()
    wait_for(lambda: gw.status()[1]["control_plane"]["connected"] is False, message="link down")

    again = control_planes(port=port)
    again.on_hello = answer_with(full_config(routes_yml(upstream.port, "/v2"), version=2))
    gw.wait_version(2, timeout=40)
    assert again.of_kind("hello")[0].config_version == 1
    assert gw.request("GET", "/v2")[0] == 200
    assert gw.status()[1]["control_plane"]["connected"] is True


def test_wrong_server_certificate_is_refused(control_planes, data_plane, tmp_path, upstream):
    other_cert, other_key = self_signed(tmp_path, "impostor")
    cp = control_planes(server_cert=(other_cert.read_bytes(), other_key.read_bytes()))
    cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/x"), version=1))
    gw = data_plane(cp.port, wait=False)
    wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in gw.error_log() or "handshake" in gw.error_log().lower(),
             timeout=20, message="TLS failure logged")
    assert cp.of_kind("hello") == []
    assert _status_code(gw, "/status/ready") == 503


def test_pki_mode(gateway_factory, tmp_path, upstream):
    ca = trustme.CA()
    server = ca.issue_cert("cp.example.test")
    client = ca.issue_cert("dp.example.test")
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    client_cert, client_key = tmp_path / "dp.crt", tmp_path / "dp.key"
    client.cert_chain_pems[0].write_to_path(str(client_cert))
    client.private_key_pem.write_to_path(str(client_key))
    cp = FakeControlPlane(server.cert_chain_pems[0].bytes(), server.private_key_pem.bytes(), ca.cert_pem.bytes())
    try:
        cp.on_hello = answer_with(full_config(routes_yml(upstream.port, "/pki"), version=1))
        gw = gateway_factory(None, workers=2, conf={
            "role": "data_plane", "cluster_mtls": "pki", "cluster_control_plane": f"127.0.0.1:{cp.port}",
            "cluster_cert": str(client_cert), "cluster_cert_key": str(client_key),
            "cluster_ca_cert": str(ca_path), "cluster_server_name": "cp.example.test"})
        assert gw.request("GET", "/pki")[0] == 200
    finally:
        cp.stop()
