"""Hybrid propagation, end to end with real processes on loopback: PostgreSQL, `controlplane
run`, N `dataplane run` data planes (1 worker each) and an echo upstream.

    .venv/bin/python -m bench.hybrid_propagation [--dps 20] [--writes 50]

Measured:
- propagation: from the Admin API's answer to a route creation to the first request that
  the new route serves, on every data plane (p50/p99 over every (write, data plane) pair, and
  of the slowest data plane per write), with 1 and 10k routes loaded, with 1 and N data planes.
  The probe load is bounded: one thread probes every data plane over a keep-alive connection,
  at most PROBE_RATE requests a second in all, so each of N data planes is probed every
  max(MIN_PROBE_INTERVAL, N / PROBE_RATE) seconds (2 ms for 1 data plane, 2.5 ms for 5, 10 ms
  for 20), offset from the other data planes' probes so they do not arrive together. A result
  is late by at most that interval (the resolution, printed with the results) plus one probe's
  round trip;
- wire bytes control plane -> data plane per change (TLS records, so compression, gRPC framing,
  the pong after the ack included), counted by a relay in front of the cluster listener
  (the control plane does not expose its own byte counts);
- full sync of 10k services + 10k routes to a fresh data plane: from the first byte the control
  plane sends to the data plane serving the config, and its wire bytes.

Targets: p99 propagation under 200 ms with 10k routes; a one-route change under 10 KB; a full
sync of 10k services + routes under 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httptools

from tests.support.configs import write_services_yml
from tests.support.echo_upstream import Upstream
from tests.support.ports import free_port
from tests.support.postgres import SUPERUSER, PostgresCluster
from tests.support.processes import ControlPlane, Gateway, controlplane_cli, gen_cert
from tests.support.waiting import wait_for

ROUTES = 10_000
# Probes of every data plane together, per second: a probe load that grew with the number of
# data planes (one every 2 ms each: 10,000 a second for 20) took CPU from what is measured.
PROBE_RATE = 2000
MIN_PROBE_INTERVAL = 0.002  # seconds: the resolution with few data planes
TARGET_P99, TARGET_CHANGE_BYTES, TARGET_FULL_SYNC = 0.200, 10 * 1024, 2.0


class Relay:
    """A TCP relay in front of the cluster listener counting the bytes sent to data planes."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.down_bytes = 0
        self.first_byte: list[float] = []  # per connection, monotonic time of its first byte down
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        started.set()
        self._loop.run_forever()

    async def _serve(self, dp_reader: asyncio.StreamReader, dp_writer: asyncio.StreamWriter) -> None:
        cp_reader, cp_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        slot = len(self.first_byte)
        self.first_byte.append(0.0)

        async def pipe(reader, writer, down: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if down:
                        if not self.first_byte[slot]:
                            self.first_byte[slot] = time.monotonic()
                        self.down_bytes += len(data)
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(dp_reader, cp_writer, False), pipe(cp_reader, dp_writer, True))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def probe_interval(dps: int) -> float:
    """Seconds between two probes of one data plane when `dps` are probed: the resolution."""
    return max(MIN_PROBE_INTERVAL, dps / PROBE_RATE)


class _Connection:
    """One data plane's keep-alive connection and where its probing stands."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setblocking(False)
        self.parser = httptools.HttpResponseParser(self)
        self.due = 0.0  # when the next probe goes out
        self.waiting = False  # a probe is out, its response not complete
        self.complete = False

    def on_message_complete(self) -> None:  # httptools callback
        self.complete = True


class Prober:
    """Probes data planes from one thread over one keep-alive connection each, in raw HTTP/1.1
    parsed by httptools: the harness's CPU per probe stays far below that of the request it
    measures. Connected before the write, so connecting is not timed."""

    def __init__(self, ports: list[int]) -> None:
        self.connections = [_Connection(port) for port in ports]

    def __enter__(self) -> Prober:
        return self

    def __exit__(self, *exc: object) -> None:
        for connection in self.connections:
            connection.sock.close()

    def first_routed(self, path: str, since: float, interval: float, timeout: float = 30.0) -> list[float]:
        """Seconds from `since` until each data plane routes `path`. Data plane i is probed at
        `since + (i / count + k) * interval`; a slot missed while its previous probe was out is
        skipped, so the rate stays bounded."""
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        count = len(self.connections)
        for i, connection in enumerate(self.connections):
            connection.due = since + i * interval / count
        results = [0.0] * count
        pending = dict(enumerate(self.connections))
        with selectors.DefaultSelector() as selector:
            for i, connection in pending.items():
                selector.register(connection.sock, selectors.EVENT_READ, i)
            while pending:
                now = time.monotonic()
                if now > since + timeout:
                    raise TimeoutError(f"{path} not routed by the data planes on {[c.port for c in pending.values()]}")
                for connection in pending.values():
                    if not connection.waiting and connection.due <= now:
                        connection.sock.sendall(request)
                        connection.waiting = True
                next_due = min((c.due for c in pending.values() if not c.waiting), default=now + 0.1)
                for key, _ in selector.select(max(0.0, next_due - time.monotonic())):
                    connection = pending[key.data]
                    data = connection.sock.recv(65536)
                    if not data:
                        raise ConnectionError(f"the data plane on {connection.port} closed the connection")
                    connection.parser.feed_data(data)
                    if not connection.complete:
                        continue
                    connection.complete = connection.waiting = False
                    if connection.parser.get_status_code() == 200:
                        results[key.data] = time.monotonic() - since
                        selector.unregister(connection.sock)
                        del pending[key.data]
                    else:
                        connection.due = max(connection.due + interval, time.monotonic())
        return results


class Bench:
    def __init__(self, tmp: Path, dps: int, writes: int) -> None:
        self.tmp, self.max_dps, self.writes = tmp, dps, writes
        self.postgres = PostgresCluster.start_new()
        self.upstream = Upstream("bench")
        pg = {
            "pg_host": self.postgres.host,
            "pg_port": str(self.postgres.port),
            "pg_user": SUPERUSER,
            "pg_database": self.postgres.create_database(),
        }
        self.cert, self.key = gen_cert(tmp)
        self.cp = ControlPlane(tmp, pg, self.cert, self.key, {"log_level": "notice"}).bootstrap().start()
        self.relay = Relay(self.cp.cluster_port)
        self.dps: list[Gateway] = []
        self.rows: list[list[str]] = []
        self.serial = 0

    def start_dps(self, count: int) -> None:
        new = []
        for _ in range(count):
            directory = self.tmp / f"dp{len(self.dps)}"
            directory.mkdir()
            conf = {
                **self.cp.data_plane_conf(),
                "cluster_control_plane": f"127.0.0.1:{self.relay.port}",
                "log_level": "notice",
            }
            dp = Gateway(directory, None, workers=1, conf=conf).start(wait=False)
            self.dps.append(dp)
            new.append(dp)
        for dp in new:
            dp.wait_ready(timeout=120)

    def stop(self) -> None:
        for dp in self.dps:
            dp.stop()
        self.cp.stop()
        self.upstream.stop()
        self.postgres.destroy()

    def propagation(self, label: str) -> None:
        samples: list[float] = []
        slowest: list[float] = []
        bytes_before = self.relay.down_bytes
        count = len(self.dps)
        interval = probe_interval(count)
        for _ in range(self.writes):
            self.serial += 1
            name = f"p{self.serial}"
            with Prober([dp.port for dp in self.dps]) as prober:
                code, body = self.cp.admin("POST", "/services/bench/routes", {"name": name, "paths": [f"/{name}/"]})
                answered = time.monotonic()
                assert code == 201, body
                times = prober.first_routed(f"/{name}/", answered, interval)
            samples += times
            slowest.append(max(times))
        time.sleep(0.2)  # the pongs after the last acks
        per_change = (self.relay.down_bytes - bytes_before) / self.writes / len(self.dps)
        self.rows.append(
            [
                label,
                str(count),
                ms(interval),
                ms(percentile(samples, 0.5)),
                ms(percentile(samples, 0.99)),
                ms(percentile(slowest, 0.5)),
                ms(percentile(slowest, 0.99)),
                f"{per_change:,.0f}",
            ]
        )
        print(" | ".join(self.rows[-1]), flush=True)

    def load_routes(self, routes: int = ROUTES) -> None:
        """Import `routes` services with one route each; wait until every data plane routes them."""
        path = self.tmp / "routes.yml"
        write_services_yml(path, routes, self.upstream.port)
        controlplane_cli("config", "db_import", str(path), "-c", str(self.cp.conf_path))
        wait_for(
            lambda: all(dp.request("GET", f"/big{routes - 1}/")[0] == 200 for dp in self.dps),
            timeout=300,
            interval=0.2,
            message=f"{routes:,} routes on every data plane",
        )

    def full_sync(self, routes: int = ROUTES) -> tuple[float, int]:
        """A fresh data plane's full sync of what load_routes(routes) loaded: seconds from the
        first byte down to serving, bytes."""
        connections, before = len(self.relay.first_byte), self.relay.down_bytes
        self.start_dps(1)
        dp = self.dps.pop()
        wait_for(
            lambda: dp.request("GET", f"/big{routes - 1}/")[0] == 200,
            timeout=60,
            interval=0.005,
            message=f"the fresh data plane serving {routes:,} routes",
        )
        served = time.monotonic()
        elapsed = served - self.relay.first_byte[connections]
        sent = self.relay.down_bytes - before
        dp.stop()
        return elapsed, sent


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dps", type=int, default=20, help="data planes in the several-DP runs (default 20)")
    parser.add_argument("--writes", type=int, default=50, help="route creations per scenario (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gantry-hybrid-bench-") as tmp:
        bench = Bench(Path(tmp), args.dps, args.writes)
        try:
            code, body = bench.cp.admin(
                "POST", "/services", {"name": "bench", "url": f"http://127.0.0.1:{bench.upstream.port}"}
            )
            assert code == 201, body
            print(
                "routes loaded | DPs | probe interval ms | p50 ms | p99 ms | slowest DP p50 ms | slowest DP p99 ms "
                "| bytes/change/DP"
            )
            bench.start_dps(1)
            bench.propagation("1")
            bench.start_dps(args.dps - 1)
            bench.propagation("1")
            bench.load_routes()
            sync_seconds, sync_bytes = bench.full_sync()
            bench.propagation("10k")
            for dp in bench.dps[1:]:
                dp.stop()
            bench.dps = bench.dps[:1]
            bench.propagation("10k")
        finally:
            bench.stop()
    print(
        "\n| routes loaded | data planes | probe interval per DP (ms) | p50 (ms) | p99 (ms) | slowest DP p50 (ms) "
        "| slowest DP p99 (ms) | wire bytes per change per DP |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in bench.rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\nfull sync of {ROUTES:,} services + {ROUTES:,} routes to a fresh data plane: "
        f"{sync_seconds * 1000:.0f} ms, {sync_bytes:,} wire bytes"
    )
    p99_10k = max(float(row[4]) for row in bench.rows if row[0] == "10k") / 1000
    change = max(float(row[7].replace(",", "")) for row in bench.rows)
    print(
        f"targets: p99 with 10k routes {ms(p99_10k)} ms < {ms(TARGET_P99)} ms: {p99_10k < TARGET_P99}; "
        f"one-route change {change:,.0f} B < {TARGET_CHANGE_BYTES:,} B: {change < TARGET_CHANGE_BYTES}; "
        f"full sync {sync_seconds:.2f} s < {TARGET_FULL_SYNC} s: {sync_seconds < TARGET_FULL_SYNC}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
