"""Micro-benchmark of a balancer pick through the Python binding, per algorithm.

Each algorithm's per-request calls as the proxy makes them: round-robin's ``pick()``;
consistent-hashing's ``peer(value)`` (the value a request hashes on, 24 bytes here);
least-connections' ``peer()`` then ``release(slot)`` (an atomic add each way in the node's
shared memory, the process's own table here); latency's ``peer()`` then
``release(slot, rtt)``. Targets all of weight 100; consistent-hashing's ring at the most
slots Kong allows (65536: 100 targets take 16,000 entries). CPU time of this process, best
and median of the rounds, in nanoseconds per request (both calls).

    .venv/bin/python -m bench.balancer_bench [--targets N] [--picks N] [--rounds R] [--checks]

With ``--checks`` every upstream runs passive health checks (``unhealthy.http_failures: 5``)
and each release reports a 200: a pick then also reads each considered target's health word
and the healthy weight (Kong's threshold), and a release changes no word (a success on a
healthy target counts nothing).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson

from dataplane._core import Balancer


def balancer(algorithm: str, targets: int, checks: bool = False) -> Balancer:
    upstream: dict = {"id": "u1", "name": "pool", "algorithm": algorithm, "slots": 65536}
    if checks:
        upstream["healthchecks"] = {"passive": {"unhealthy": {"http_failures": 5}}}
    entities = [
        orjson.dumps(
            {
                "id": f"t{i}",
                "target": f"10.0.{i // 250}.{i % 250 + 1}:80",
                "weight": 100,
                "upstream": {"id": "u1"},
                "created_at": i,
            }
        )
        for i in range(targets)
    ]
    return Balancer.from_json(orjson.dumps(upstream), entities)


def per_request(algorithm: str, b: Balancer, values: list[bytes], checks: bool = False) -> Callable[[int], None]:
    if checks:  # every algorithm as the proxy calls it with health checks: peer, then release
        peer, release = b.peer, b.release
        count = len(values)

        def run(n: int) -> None:
            for i in range(n):
                release(peer(values[i % count])[0], 0.001, 200)  # type: ignore[index]

        return run
    if algorithm == "round-robin":
        pick = b.pick

        def run(n: int) -> None:
            for _ in range(n):
                pick()

    elif algorithm == "consistent-hashing":
        peer = b.peer

        def run(n: int) -> None:
            count = len(values)
            for i in range(n):
                peer(values[i % count])

    elif algorithm == "least-connections":
        peer, release = b.peer, b.release

        def run(n: int) -> None:
            for _ in range(n):
                release(peer()[0])  # type: ignore[index]

    else:
        peer, release = b.peer, b.release

        def run(n: int) -> None:
            for i in range(n):
                release(peer()[0], 0.001 + (i % 7) * 1e-4)  # type: ignore[index]

    return run


def empty_loop(values: list[bytes]) -> Callable[[int], None]:
    def run(n: int) -> None:
        count = len(values)
        for i in range(n):
            values[i % count]

    return run


def timed(run: Callable[[int], None], picks: int, rounds: int) -> tuple[float, float]:
    run(1000)
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        run(picks)
        samples.append((time.process_time() - started) / picks * 1e9)
    return min(samples), statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--picks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--checks", action="store_true", help="passive health checks on every upstream")
    args = parser.parse_args()
    values = [b"user-%020d" % i for i in range(4096)]
    loop_best, _ = timed(empty_loop(values), args.picks, args.rounds)
    print(
        f"{args.targets} targets, {args.picks} requests x {args.rounds} rounds (ns per request, loop {loop_best:.0f})"
    )
    for algorithm in ("round-robin", "consistent-hashing", "least-connections", "latency"):
        b = balancer(algorithm, args.targets, args.checks)
        best, median = timed(per_request(algorithm, b, values, args.checks), args.picks, args.rounds)
        print(f"  {algorithm:<20} best {best:6.0f}  median {median:6.0f}")


if __name__ == "__main__":
    main()
