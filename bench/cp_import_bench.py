"""db_import of 10,000 services, each with one route and one plugin, into a throwaway
PostgreSQL; prints the time of each stage. Target: under 10 s in all.

    .venv/bin/python bench/cp_import_bench.py [--services N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import yaml

from controlplane.database import Database
from dataplane.declarative import parse_file
from tests.support.postgres import PostgresCluster

TARGET_SECONDS = 10.0


def write_config(path: str, count: int) -> None:
    services = [
        {
            "name": f"svc-{i}",
            "url": f"http://backend-{i % 50}.internal:8080/api",
            "routes": [{"name": f"route-{i}", "paths": [f"/svc/{i}"]}],
            "plugins": [{"name": "request-size-limiting", "config": {"allowed_payload_size": 100}}],
        }
        for i in range(count)
    ]
    with open(path, "w") as f:
        yaml.dump(
            {"_format_version": "3.0", "services": services}, f, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        )


async def load(conf, flat) -> float:
    db = await Database.connect(conf)
    try:
        await db.migrations.bootstrap()
        start = time.perf_counter()
        await db.entities.import_flat(flat)
        return time.perf_counter() - start
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    args = parser.parse_args()
    cluster = PostgresCluster.start_new()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "kong.yml")
            write_config(path, args.services)
            start = time.perf_counter()
            flat = parse_file(path, timestamp=int(time.time()))
            parsed = time.perf_counter() - start
        conf = cluster.conf(cluster.create_database())
        written = asyncio.run(load(conf, flat))
    finally:
        cluster.destroy()
    total = parsed + written
    print(
        f"db_import of {args.services} services (+1 route, +1 plugin each): "
        f"parse {parsed:.2f} s, write {written:.2f} s, total {total:.2f} s "
        f"({'under' if total < TARGET_SECONDS else 'OVER'} the {TARGET_SECONDS:.0f} s target)"
    )


if __name__ == "__main__":
    main()
