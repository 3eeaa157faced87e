"""Failover: wrk through an upstream of 3 targets while one of them is killed.

A real `dataplane run` (2 workers) balances round-robin over three echo upstreams on loopback;
wrk runs for ``--seconds`` and the second target's process is killed (SIGKILL) a third of the
way in. Three upstream settings are compared: no health checks (each request the balancer sends
to the dead target connects, is refused and is retried on another), passive checks only
(``unhealthy.tcp_failures: 1``: the first refused connection takes the target out for every
worker), and active probes every second (``unhealthy.tcp_failures: 1``, intervals 1 s, no
passive counting). Reported per run: requests, the requests that failed (non-2xx and socket
errors, from wrk's summary) and requests per second.

    .venv/bin/python -m bench.failover_bench [--seconds N] [--connections N]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.support.echo_upstream import Upstream
from tests.support.processes import Gateway

MODES = {
    "none": "{}",
    "passive": "{passive: {unhealthy: {tcp_failures: 1}}}",
    "active 1s": "{active: {type: tcp, healthy: {interval: 1}, unhealthy: {interval: 1, tcp_failures: 1}}}",
}


def kong_yml(ports: list[int], checks: str) -> str:
    targets = "\n".join(f'          - {{target: "127.0.0.1:{port}"}}' for port in ports)
    return f"""
    _format_version: "3.0"
    upstreams:
      - name: pool
        healthchecks: {checks}
        targets:
{targets}
    services:
      - name: balanced
        host: pool
        routes:
          - {{name: balanced, paths: ["/"]}}
    """


def run(mode: str, seconds: int, connections: int) -> dict[str, float]:
    upstreams = [Upstream(name) for name in ("one", "two", "three")]
    with tempfile.TemporaryDirectory() as tmp:
        gateway = Gateway(
            Path(tmp), kong_yml([u.port for u in upstreams], MODES[mode]), workers=2, conf={"log_level": "error"}
        )
        gateway.start()
        try:
            killer = threading.Timer(seconds / 3, upstreams[1].stop)
            killer.start()
            out = subprocess.run(
                ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{gateway.port}/anything"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            killer.join()
        finally:
            gateway.stop()
            for upstream in upstreams:
                upstream.stop()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"requests": requests, "failed": failed, "rps": rps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"wrk -c{args.connections} for {args.seconds} s, the second of 3 targets killed at {args.seconds / 3:.1f} s")
    for _ in range(args.rounds):
        for mode in MODES:
            result = run(mode, args.seconds, args.connections)
            requests, failed, rps = result["requests"], result["failed"], result["rps"]
            print(f"  {mode:<10} requests {requests:>7}  failed {failed:>4}  rps {rps:>8.0f}")
            time.sleep(0.5)


if __name__ == "__main__":
    main()
