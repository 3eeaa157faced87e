"""What a data plane worker spends on one config change: the Rust reader (`Store.load` against
the snapshot it serves) and `Runtime.from_snapshot` against the runtime it serves.

Writes a base config (10,000 services with a route each, 100 upstreams with one target, 1,000
of the services pointing at them) and, for each change, that config with the change applied as
a control plane's delta (so the reader takes the `meta|delta` path) and as a full config (the
reader compares every entity). Every environment is written and closed before any is read: a
reader and a writer must not share a process while both are open.

    .venv/bin/python -m bench.worker_reload_bench [--services N] [--repeat N]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataplane import _core
from dataplane.declarative.hashing import config_hash
from dataplane.lmdb_cache import ConfigStore
from dataplane.proxy import ProxySettings, Runtime

Flat = dict[str, list[dict[str, Any]]]
UPSTREAMS = 100


def _id(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{n}"))


def base_config(services: int) -> Flat:
    flat: Flat = {"services": [], "routes": [], "upstreams": [], "targets": []}
    for n in range(UPSTREAMS):
        flat["upstreams"].append({"id": _id("upstream", n), "name": f"up-{n}", "algorithm": "round-robin"})
        flat["targets"].append(
            {
                "id": _id("target", n),
                "target": f"127.0.0.1:{9000 + n}",
                "weight": 100,
                "upstream": {"id": _id("upstream", n)},
                "created_at": n,
            }
        )
    for n in range(services):
        host = f"up-{n % UPSTREAMS}" if n % 10 == 0 else "127.0.0.1"
        # Every field a control plane sends, as in a real config.
        flat["services"].append(
            {
                "id": _id("service", n),
                "name": f"s{n}",
                "protocol": "http",
                "host": host,
                "port": 8000 + n % 1000,
                "path": None,
                "enabled": True,
                "retries": 5,
                "connect_timeout": 60000,
                "write_timeout": 60000,
                "read_timeout": 60000,
                "tags": None,
                "client_certificate": None,
                "tls_verify": None,
                "tls_verify_depth": None,
                "ca_certificates": None,
                "created_at": 1700000000 + n,
                "updated_at": 1700000000 + n,
            }
        )
        flat["routes"].append(
            {"id": _id("route", n), "paths": [f"/s{n}/"], "service": {"id": _id("service", n)}, "created_at": n}
        )
    return flat


def changes(flat: Flat) -> dict[str, tuple[str, dict[str, Any]]]:
    """One entity changed per scenario: (its type, its new value)."""
    service = dict(flat["services"][len(flat["services"]) // 2], port=7777)
    target = dict(flat["targets"][7], weight=50)
    return {"one service": ("services", service), "one target": ("targets", target)}


def write(path: Path, flat: Flat, change: tuple[str, dict[str, Any]] | None, as_delta: bool) -> None:
    store = ConfigStore(str(path), 1 << 30)
    try:
        digest, hashes = config_hash(flat)
        store.apply(flat, digest, hashes, version=1)
        if change is not None:
            kind, entity = change
            changed = {
                k: [entity if e["id"] == entity["id"] else e for e in v] if k == kind else v for k, v in flat.items()
            }
            digest, hashes = config_hash(changed)
            if as_delta:
                store.apply_delta(1, 2, {kind: [entity]}, {}, digest, hashes)
            else:
                store.apply(changed, digest, hashes, version=2)
    finally:
        store.close()


def median_ms(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    flat = base_config(args.services)
    settings = ProxySettings()
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp, "base"), flat, None, False)
        cases = []
        for name, change in changes(flat).items():
            for as_delta in (True, False):
                path = Path(tmp, f"{name}-{as_delta}".replace(" ", "-"))
                write(path, flat, change, as_delta)
                cases.append((name, "delta" if as_delta else "full config", path))
        base = _core.Store(str(Path(tmp, "base"))).load()
        served = Runtime.from_snapshot(base, settings)
        print(f"{args.services} services; median of {args.repeat} loads, ms")
        print(f"{'change':<12} {'written as':<12} {'reader':>8} {'runtime':>8} {'total':>8}")
        for name, written, path in cases:
            store = _core.Store(str(path))
            snapshot = store.load(previous=base)
            reader = median_ms(functools.partial(store.load, previous=base), args.repeat)
            runtime = median_ms(functools.partial(Runtime.from_snapshot, snapshot, settings, served), args.repeat)
            print(f"{name:<12} {written:<12} {reader:8.2f} {runtime:8.2f} {reader + runtime:8.2f}")


if __name__ == "__main__":
    main()
