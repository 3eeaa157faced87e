"""Mutual TLS on the cluster listener: who is refused at the handshake or after it, and the
line the control plane logs saying why."""
from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
import trustme

from controlplane.cli import with_db
from controlplane.cluster.gencert import generate
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane


@pytest.fixture
def database(postgres):
    name = postgres.create_database()
    conf = postgres.conf(name)
    with_db(conf, lambda db: db.migrations.bootstrap())
    return name


async def outcome(dp: TestDataPlane) -> str:
    """"config" when the control plane sent a config, else the gRPC status code."""
    try:
        await dp.connect()
        message = await dp.receive(timeout=10)
        return "config" if message.WhichOneof("kind") in ("full", "delta") else message.WhichOneof("kind")
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    finally:
        await dp.close()


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("refused a data plane connection")]


def test_shared_mode(postgres, database, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    cert, key = shared_pair(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_cert, other_key = shared_pair(other)  # another gen_cert: same CN, another key
    conf = postgres.conf(database, role="control_plane", cluster_cert=cert, cluster_cert_key=key)
    with ControlPlane(conf) as cp:
        async def scenario():
            assert await outcome(TestDataPlane(cp.port, cert, key, cert)) == "config"
            assert await outcome(TestDataPlane(cp.port, None, None, cert)) == "UNAVAILABLE"
            assert await outcome(TestDataPlane(cp.port, other_cert, other_key, cert)) == "UNAVAILABLE"

        asyncio.run(scenario())
    logged = refusals(caplog)
    assert len(logged) == 2, logged
    assert "data plane presented no client certificate" in logged[0]
    assert "client certificate not trusted" in logged[1]
    assert "issued by the cluster certificate (cluster_mtls = shared)" in logged[1]


def test_shared_mode_refuses_a_certificate_signed_by_the_cluster_key(postgres, database,
                                                                      tmp_path, caplog):
    """`openssl req -x509` makes a CA certificate; a leaf it signed passes verification but
    is not the cluster certificate: refused after the handshake, with Kong's message."""
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def make(name: str, issuer_name: x509.Name | None, issuer_key, ca: bool):
        key = ec.generate_private_key(ec.SECP384R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject)
                .issuer_name(issuer_name or subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(issuer_key or key, hashes.SHA256()))
        (tmp_path / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return cert, key

    shared, shared_key = make("kong_clustering", None, None, ca=True)
    make("dp", shared.subject, shared_key, ca=False)
    cert, key = str(tmp_path / "kong_clustering.crt"), str(tmp_path / "kong_clustering.key")
    conf = postgres.conf(database, role="control_plane", cluster_cert=cert, cluster_cert_key=key)
    with ControlPlane(conf) as cp:
        async def scenario():
            assert await outcome(TestDataPlane(cp.port, cert, key, cert)) == "config"
            leaf = TestDataPlane(cp.port, str(tmp_path / "dp.crt"), str(tmp_path / "dp.key"), cert)
            assert await outcome(leaf) == "UNAVAILABLE"

        asyncio.run(scenario())
    logged = refusals(caplog)
    assert len(logged) == 1 and "digest does not match the control plane certificate" in logged[0]


def test_pki_mode(postgres, database, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    ca, foreign = trustme.CA(), trustme.CA()
    files: dict[str, str] = {}
    for name, issued in (("cp", ca.issue_cert("cp.cluster.test")), ("dp", ca.issue_cert("dp-1")),
                         ("alien", foreign.issue_cert("dp-1"))):
        issued.cert_chain_pems[0].write_to_path(str(tmp_path / f"{name}.crt"))
        issued.private_key_pem.write_to_path(str(tmp_path / f"{name}.key"))
        files[name] = str(tmp_path / f"{name}.crt")
        files[f"{name}_key"] = str(tmp_path / f"{name}.key")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    root = str(tmp_path / "ca.crt")
    conf = postgres.conf(database, role="control_plane", cluster_mtls="pki",
                         cluster_cert=files["cp"], cluster_cert_key=files["cp_key"],
                         cluster_ca_cert=root)
    with ControlPlane(conf) as cp:
        async def scenario():
            good = TestDataPlane(cp.port, files["dp"], files["dp_key"], root,
                                 server_name="cp.cluster.test")
            assert await outcome(good) == "config"
            # the data plane checks the control plane's name (cluster_server_name)
            wrong_name = TestDataPlane(cp.port, files["dp"], files["dp_key"], root,
                                       server_name="elsewhere.test")
            assert await outcome(wrong_name) == "UNAVAILABLE"
            alien = TestDataPlane(cp.port, files["alien"], files["alien_key"], root,
                                  server_name="cp.cluster.test")
            assert await outcome(alien) == "UNAVAILABLE"
            none = TestDataPlane(cp.port, None, None, root, server_name="cp.cluster.test")
            assert await outcome(none) == "UNAVAILABLE"

        asyncio.run(scenario())
    logged = refusals(caplog)
    assert any("client certificate not trusted" in m and "cluster CA (cluster_ca_cert)" in m
               for m in logged), logged
    assert any("presented no client certificate" in m for m in logged), logged


def test_a_connection_around_the_tls_front_is_refused(postgres, database, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="controlplane.cluster")
    cert, key = shared_pair(tmp_path)
    conf = postgres.conf(database, role="control_plane", cluster_cert=cert, cluster_cert_key=key)
    with ControlPlane(conf) as cp:
        backend = cp.cluster._front._backend_port

        async def scenario():
            from dataplane.cluster.protocol import cluster_pb2_grpc as pb_grpc
            async with grpc.aio.insecure_channel(f"127.0.0.1:{backend}") as channel:
                call = pb_grpc.ClusterStub(channel).Connect()
                # refused before the first message is read: no write races the refusal
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call.read()
                return caught.value.code()

        assert asyncio.run(scenario()) == grpc.StatusCode.PERMISSION_DENIED
    assert any("did not come through the cluster listener" in r.getMessage()
               for r in caplog.records)


def test_missing_or_unusable_certificate_stops_the_start(postgres, database, tmp_path):
    from controlplane.cluster import CertificateError, ClusterServer

    cert, key = shared_pair(tmp_path)
    (tmp_path / "junk.pem").write_text("not a certificate")
    conf = postgres.conf(database, role="control_plane", cluster_cert=str(tmp_path / "junk.pem"),
                         cluster_cert_key=key)
    with pytest.raises(CertificateError, match="cluster_cert: failed loading certificate"):
        ClusterServer(conf, None)
    other = tmp_path / "o"
    other.mkdir()
    generate(str(other / "c.crt"), str(other / "c.key"))
    conf = postgres.conf(database, role="control_plane", cluster_cert=cert,
                         cluster_cert_key=str(other / "c.key"))
    with pytest.raises(CertificateError, match="cluster_cert_key: cannot use"):
        ClusterServer(conf, None)
