"""Micro-benchmark of `Router.find` through the Python binding.

Builds routers of 1, 1k and 10k routes (a realistic mix: host + prefix path, prefix path only,
wildcard host, regex path, header-matched routes) and times lookups that hit the match cache
and lookups that miss it (every request distinct, cache disabled).

    .venv/bin/python bench/router_bench.py [--lookups N]
"""

from __future__ import annotations

import argparse
import random
import time

import orjson

from dataplane._core import Router

SERVICES = [orjson.dumps({"id": "svc", "host": "upstream.local", "path": "/"})]


def make_routes(n: int) -> list[bytes]:
    routes = []
    for i in range(n):
        kind = i % 10
        route: dict = {"id": f"route-{i}", "service": {"id": "svc"}, "created_at": i}
        if kind < 5:
            route |= {"hosts": [f"api{i}.example.com"], "paths": [f"/v1/resource{i}"]}
        elif kind < 7:
            route |= {"paths": [f"/svc{i}/items"]}
        elif kind == 7:
            route |= {"hosts": [f"*.tenant{i}.example.net"], "paths": ["/"]}
        elif kind == 8:
            route |= {"hosts": [f"re{i}.example.com"], "paths": [rf"~/orders/(?<id>\d+)/r{i}$"]}
        else:
            route |= {"hosts": [f"hdr{i}.example.com"], "headers": {"x-version": [f"v{i}"]}}
        routes.append(orjson.dumps(route))
    return routes


def make_requests(n: int, count: int, rng: random.Random) -> list[tuple]:
    requests = []
    for _ in range(count):
        i = rng.randrange(n)
        kind = i % 10
        if kind < 5:
            requests.append(("GET", "http", f"api{i}.example.com", f"/v1/resource{i}/x", None, None))
        elif kind < 7:
            requests.append(("GET", "http", "gateway.example.com", f"/svc{i}/items/1", None, None))
        elif kind == 7:
            requests.append(("GET", "http", f"a.tenant{i}.example.net", "/any", None, None))
        elif kind == 8:
            requests.append(("GET", "http", f"re{i}.example.com", f"/orders/77/r{i}", None, None))
        else:
            requests.append(("GET", "http", f"hdr{i}.example.com", "/", None, [("x-version", f"v{i}")]))
    return requests


def time_lookups(router: Router, requests: list[tuple]) -> float:
    find = router.find
    start = time.perf_counter()
    for method, scheme, host, path, sni, headers in requests:
        find(method, scheme, host, path, sni, headers)
    return (time.perf_counter() - start) / len(requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(7)
    print(f"{'routes':>7} {'compile ms':>11} {'hit us':>8} {'miss us':>8}")
    for n in (1, 1_000, 10_000):
        routes = make_routes(n)
        start = time.perf_counter()
        cached = Router.from_json(routes, SERVICES, 4096)
        compile_ms = (time.perf_counter() - start) * 1e3
        uncached = Router.from_json(routes, SERVICES, 0)
        # Hits: a working set smaller than the cache, warmed once.
        working_set = make_requests(n, min(n, 1_000), rng)
        time_lookups(cached, working_set)
        hits = [rng.choice(working_set) for _ in range(args.lookups)]
        misses = make_requests(n, args.lookups, rng)
        assert all(uncached.find(*r) is not None for r in misses[:1_000]), "bench requests must match"
        print(f"{n:>7} {compile_ms:>11.1f} {time_lookups(cached, hits):>8.2f} {time_lookups(uncached, misses):>8.2f}")


if __name__ == "__main__":
    main()
