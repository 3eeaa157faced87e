"""Traditional-mode propagation, end to end with real processes on loopback: PostgreSQL, two
`dataplane run` nodes with role = traditional (1 worker each, Admin API and proxy each) on one
database, and an echo upstream.

    .venv/bin/python -m bench.traditional_propagation [--writes 50]

Measured: from the Admin API's answer to a route creation through one node to the first
request the new route serves, on that node and on the other one (the write alternates between
the two nodes), with 1 route and with 10k routes loaded (10k services with one route each,
imported with `controlplane config db_import`). The probing is bench.hybrid_propagation's: one
thread, a keep-alive connection per node opened before the write, each node probed every 2 ms
(the resolution). p50/p99 over the writes.

Target: p99 under 200 ms on the other node with 10k routes (Kong: up to db_update_frequency,
5 s, plus its router rebuild).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.hybrid_propagation import Prober, ms, percentile, probe_interval
from tests.support.configs import write_services_yml
from tests.support.echo_upstream import Upstream
from tests.support.postgres import PostgresCluster
from tests.support.processes import controlplane_cli
from tests.support.traditional import TraditionalNode, pg_settings
from tests.support.waiting import wait_for

ROUTES = 10_000
TARGET_P99 = 0.200


class Bench:
    def __init__(self, tmp: Path, writes: int) -> None:
        self.writes = writes
        self.postgres = PostgresCluster.start_new()
        self.upstream = Upstream("bench")
        pg = pg_settings(self.postgres, self.postgres.create_database())
        self.nodes: list[TraditionalNode] = []
        for name in ("a", "b"):
            directory = tmp / name
            directory.mkdir()
            # db_update_frequency at Kong's default: what is measured is the notification path.
            self.nodes.append(
                TraditionalNode(directory, pg, workers=1, conf={"log_level": "notice", "db_update_frequency": "5"})
            )
        self.nodes[0].migrations("bootstrap")
        self.tmp = tmp
        self.rows: list[list[str]] = []
        self.serial = 0

    def start(self) -> None:
        for node in self.nodes:
            node.start_admin()
        self.nodes[0].admin_ok("POST", "/services", {"name": "bench", "url": f"http://127.0.0.1:{self.upstream.port}"})
        self.nodes[0].admin_ok("POST", "/services/bench/routes", {"name": "p0", "paths": ["/p0/"]})
        for node in self.nodes:
            node.wait_ready(timeout=60)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.upstream.stop()
        self.postgres.destroy()

    def propagation(self, label: str) -> None:
        own: list[float] = []
        other: list[float] = []
        interval = probe_interval(len(self.nodes))
        for i in range(self.writes):
            self.serial += 1
            name = f"p{self.serial}"
            writer = self.nodes[i % 2]
            with Prober([node.port for node in self.nodes]) as prober:
                code, body = writer.admin("POST", "/services/bench/routes", {"name": name, "paths": [f"/{name}/"]})
                answered = time.monotonic()
                assert code == 201, body
                times = prober.first_routed(f"/{name}/", answered, interval)
            own.append(times[i % 2])
            other.append(times[1 - i % 2])
        self.rows.append(
            [
                label,
                ms(interval),
                ms(percentile(own, 0.5)),
                ms(percentile(own, 0.99)),
                ms(percentile(other, 0.5)),
                ms(percentile(other, 0.99)),
            ]
        )
        print(" | ".join(self.rows[-1]), flush=True)

    def load_routes(self, routes: int = ROUTES) -> float:
        """Import `routes` services with one route each; seconds until both nodes route them."""
        path = self.tmp / "routes.yml"
        write_services_yml(path, routes, self.upstream.port)
        controlplane_cli("config", "db_import", str(path), "-c", str(self.nodes[0].conf_path))
        imported = time.monotonic()
        wait_for(
            lambda: all(node.request("GET", f"/big{routes - 1}/")[0] == 200 for node in self.nodes),
            timeout=300,
            interval=0.05,
            message=f"{routes:,} routes on both nodes",
        )
        return time.monotonic() - imported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=50, help="route creations per scenario (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gantry-traditional-bench-") as tmp:
        bench = Bench(Path(tmp), args.writes)
        try:
            bench.start()
            print("routes loaded | probe interval ms | writer p50 ms | writer p99 ms | other p50 ms | other p99 ms")
            bench.propagation("1")
            imported = bench.load_routes()
            bench.propagation("10k")
        finally:
            bench.stop()
    print(
        "\n| routes loaded | probe interval per node (ms) | writing node p50 (ms) | writing node p99 (ms) "
        "| other node p50 (ms) | other node p99 (ms) |"
    )
    print("|---|---|---|---|---|---|")
    for row in bench.rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{ROUTES:,} services + routes imported: both nodes routing them {imported:.2f} s after db_import ended")
    p99 = float(bench.rows[-1][5]) / 1000
    print(f"target: p99 on the other node with 10k routes {ms(p99)} ms < {ms(TARGET_P99)} ms: {p99 < TARGET_P99}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
