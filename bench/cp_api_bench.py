"""Admin API latency: `POST /services` from a single keep-alive client, p50 and p99.

    .venv/bin/python -m bench.cp_api_bench [--requests 2000] [--warmup 200]

Starts a throwaway PostgreSQL (tests/support/postgres.py) and the Admin API in this process
(uvicorn, h11, uvloop, on 127.0.0.1), then times each request end to end.
Target: p50 under 5 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time

from controlplane.cli import with_db
from tests.support.admin_api import AdminApi
from tests.support.postgres import PostgresCluster

TARGET_P50_MS = 5.0


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(p / 100 * (len(sorted_ms) - 1)))]


def measure(port: int, count: int, warmup: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}
    timings: list[float] = []
    for i in range(warmup + count):
        body = json.dumps({"name": f"bench-{i}", "url": "http://upstream.test:8080/v1", "tags": ["bench"]})
        start = time.perf_counter()
        conn.request("POST", "/services", body, headers)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 201:
            raise SystemExit(f"POST /services answered {response.status}")
        if i >= warmup:
            timings.append(elapsed)
    conn.close()
    return sorted(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    cluster = PostgresCluster.start_new()
    try:
        conf = cluster.conf(cluster.create_database())
        with_db(conf, lambda db: db.migrations.bootstrap())
        with AdminApi(conf) as api:
            timings = measure(int(api.url.rsplit(":", 1)[1]), args.requests, args.warmup)
    finally:
        cluster.destroy()
    p50, p99 = percentile(timings, 50), percentile(timings, 99)
    print(f"POST /services, 1 client, {len(timings)} requests (after {args.warmup} warm-up)")
    print(f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   mean {statistics.fmean(timings):.2f} ms   max {timings[-1]:.2f} ms")
    print(f"  target p50 < {TARGET_P50_MS:.0f} ms: {'met' if p50 < TARGET_P50_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
