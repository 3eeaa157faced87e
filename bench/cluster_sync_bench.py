"""Control plane -> data plane sync over the real cluster listener (gRPC, mutual TLS on
loopback, PostgreSQL behind): full sync time and bytes for 10k services + 10k routes and for
100k entities, the bytes of a one-route delta, and propagation from the Admin API's answer to
the data plane's receipt of the delta (p50/p99 over 100 writes) with 1 and 20 data planes.

    .venv/bin/python bench/cluster_sync_bench.py [--writes 100]

Targets: a one-route delta under 10 KB; a full sync of 10k services + routes under 2 s.
The data planes here are light clients (generated stubs) that decode what they receive and
acknowledge it; the real data plane's apply time (validation, LMDB) is not included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import grpc

from controlplane.cluster import encoding
from controlplane.database import Database
from dataplane import __version__
from dataplane.cluster.protocol import cluster_pb2 as pb, cluster_pb2_grpc as pb_grpc
from dataplane.declarative import EMPTY_HASH
from dataplane.plugins import load_registry
from dataplane.schema import process
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.postgres import PostgresCluster

DELTA_TARGET = 10 * 1024
FULL_TARGET = 2.0
BUNDLED = load_registry(("bundled",))
NOW = 1_700_000_000


def flat_config(services: int, consumers: int = 0) -> dict[str, list[dict]]:
    """`services` services with a route each, plus `consumers` consumers with a key each."""
    flat: dict[str, list[dict]] = {"services": [], "routes": [], "consumers": [], "keyauth_credentials": []}
    for i in range(services):
        svc, _ = process(
            "services",
            {"id": str(uuid.uuid4()), "name": f"svc-{i}", "url": f"http://backend-{i % 50}.internal:8080/api"},
            now=NOW,
        )
        route, _ = process(
            "routes",
            {"id": str(uuid.uuid4()), "name": f"route-{i}", "paths": [f"/svc/{i}"], "service": {"id": svc["id"]}},
            now=NOW,
        )
        flat["services"].append(svc)
        flat["routes"].append(route)
    for i in range(consumers):
        consumer, _ = process("consumers", {"id": str(uuid.uuid4()), "username": f"user-{i}"}, now=NOW)
        key, _ = process(
            "keyauth_credentials",
            {"id": str(uuid.uuid4()), "key": f"key-{i}", "consumer": {"id": consumer["id"]}},
            now=NOW,
        )
        flat["consumers"].append(consumer)
        flat["keyauth_credentials"].append(key)
    return flat


class BenchDataPlane:
    """Connects, decodes every config it gets, acknowledges it, and notes when it arrived."""

    def __init__(self, port: int, cert: str, key: str) -> None:
        self.port, self.cert, self.key = port, cert, key
        # (received, decoded, message) per config message
        self.arrivals: list[tuple[float, float, pb.ControlPlaneMessage]] = []
        self.version = 0
        self.event = asyncio.Event()

    async def connect(self) -> None:
        pem = Path(self.cert).read_bytes()
        credentials = grpc.ssl_channel_credentials(pem, Path(self.key).read_bytes(), pem)
        self.channel = grpc.aio.secure_channel(
            f"127.0.0.1:{self.port}",
            credentials,
            options=[
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
                ("grpc.ssl_target_name_override", "kong_clustering"),
            ],
        )
        self.call = pb_grpc.ClusterStub(self.channel).Connect()
        await self.call.write(
            pb.DataPlaneMessage(
                hello=pb.Hello(
                    node_id=str(uuid.uuid4()),
                    hostname="bench",
                    version=__version__,
                    # what a data plane with `plugins = bundled` runs, at its plugins' versions
                    plugins=[pb.PluginInfo(name=s.name, version=s.version) for s in BUNDLED.specs.values()],
                    config_version=0,
                    config_hash=EMPTY_HASH,
                )
            )
        )
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while (message := await self.call.read()) is not grpc.aio.EOF:
            arrived = time.perf_counter()
            kind = message.WhichOneof("kind")
            if kind not in ("full", "delta"):
                continue
            body = message.full if kind == "full" else message.delta
            encoding.decode(body.payload, body.encoding)
            self.version = body.version if kind == "full" else body.to_version
            self.arrivals.append((arrived, time.perf_counter(), message))
            self.event.set()
            await self.call.write(pb.DataPlaneMessage(ack=pb.Ack(version=self.version, hash=body.hash, applied=True)))

    async def until(self, version: int) -> None:
        while self.version < version:
            self.event.clear()
            await self.event.wait()

    async def close(self) -> None:
        await self.channel.close()
        await asyncio.gather(self.reader, return_exceptions=True)


def wire_bytes(message: pb.ControlPlaneMessage) -> int:
    """The serialised message (HTTP/2 framing and TLS records add well under 1%)."""
    return message.ByteSize()


async def import_flat(conf, flat) -> None:
    db = await Database.connect(conf)
    try:
        await db.migrations.bootstrap()
        await db.entities.import_flat(flat)
    finally:
        await db.close()


def full_sync(cluster: PostgresCluster, certs: tuple[str, str], flat) -> tuple[float, float, int]:
    """(seconds from connecting to a received and decoded full config, the same for a second
    data plane (encoding cached), bytes of the message)."""
    cert, key = certs
    conf = cluster.conf(cluster.create_database(), role="control_plane", cluster_cert=cert, cluster_cert_key=key)
    asyncio.run(import_flat(conf, flat))
    with ControlPlane(conf) as cp:

        async def one() -> tuple[float, int]:
            dp = BenchDataPlane(cp.port, cert, key)
            started = time.perf_counter()
            await dp.connect()
            await dp.until(1)
            elapsed = dp.arrivals[0][1] - started
            size = wire_bytes(dp.arrivals[0][2])
            await dp.close()
            return elapsed, size

        first, size = asyncio.run(one())
        second, _ = asyncio.run(one())
    return first, second, size


def progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def propagation(
    cp: ControlPlane, certs: tuple[str, str], clients: int, writes: int, service_id: str
) -> tuple[list[float], int]:
    """Admin API answer -> receipt of the delta at each data plane, one route per write."""
    cert, key = certs

    async def scenario() -> tuple[list[float], int]:
        dps = [BenchDataPlane(cp.port, cert, key) for _ in range(clients)]
        for dp in dps:
            await dp.connect()
        start_version = cp.caught_up()
        await asyncio.gather(*(dp.until(start_version) for dp in dps))
        samples: list[float] = []
        delta_size = 0
        for i in range(writes):
            r = await asyncio.to_thread(
                cp.request,
                "POST",
                f"/services/{service_id}/routes",
                json={"name": f"p-{clients}-{i}", "paths": [f"/p/{clients}/{i}"]},
            )
            answered = time.perf_counter()
            assert r.status_code == 201, r.text
            target = max(dp.version for dp in dps) + 1
            await asyncio.gather(*(dp.until(target) for dp in dps))
            for dp in dps:
                arrived, _, message = dp.arrivals[-1]
                samples.append(max(arrived - answered, 0.0))
                if message.WhichOneof("kind") == "delta":
                    delta_size = wire_bytes(message)
        for dp in dps:
            await dp.close()
        return samples, delta_size

    return asyncio.run(scenario())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100)
    args = parser.parse_args()
    cluster = PostgresCluster.start_new()
    rows: list[tuple[str, str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            certs = shared_pair(Path(tmp))
            progress("10k services + 10k routes: full sync")
            small = flat_config(10_000)
            first, cached, size = full_sync(cluster, certs, small)
            rows.append(
                (
                    "full sync, 10k services + 10k routes (first / encoding cached)",
                    f"{first:.2f} s / {cached:.2f} s, {size / 1e6:.2f} MB "
                    f"({'under' if first < FULL_TARGET else 'OVER'} the {FULL_TARGET:g} s target)",
                )
            )
            progress("100k entities: full sync")
            big = flat_config(25_000, consumers=25_000)
            first, cached, size = full_sync(cluster, certs, big)
            rows.append(
                (
                    "full sync, 100k entities (first / encoding cached)",
                    f"{first:.2f} s / {cached:.2f} s, {size / 1e6:.2f} MB",
                )
            )
            conf = cluster.conf(
                cluster.create_database(), role="control_plane", cluster_cert=certs[0], cluster_cert_key=certs[1]
            )
            asyncio.run(import_flat(conf, small))
            with ControlPlane(conf) as cp:
                service_id = small["services"][0]["id"]
                for clients in (1, 20):
                    progress(f"propagation with {clients} data plane(s)")
                    samples, delta = propagation(cp, certs, clients, args.writes, service_id)
                    if clients == 1:
                        rows.append(
                            (
                                "one-route delta on the wire",
                                f"{delta} bytes ({'under' if delta < DELTA_TARGET else 'OVER'} "
                                f"the {DELTA_TARGET // 1024} KB target)",
                            )
                        )
                    rows.append(
                        (
                            f"propagation, {clients} data plane(s), {args.writes} writes (p50 / p99 / max)",
                            f"{statistics.median(samples) * 1000:.1f} / "
                            f"{percentile(samples, 99) * 1000:.1f} / "
                            f"{max(samples) * 1000:.1f} ms",
                        )
                    )
    finally:
        cluster.destroy()
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}} | result")
    print(f"{'-' * width}-|-{'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}} | {value}")


if __name__ == "__main__":
    main()
