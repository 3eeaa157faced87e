"""POST /config of a large declarative file to a DB-less node, until the proxy routes by it.

A real `dataplane run` (database = off, 2 workers, its DB-less Admin API on loopback) starts
with one service; each round POSTs a kong.yml of ``--services`` services of one route each
(`tests.support.configs.write_services_yml`, every route a path of its own) as decK and KIC
send it, `{"config": "<text>"}`, as YAML text or (``--json``) JSON text, the rounds
alternating between two such files that differ in every route's path (so each is a whole new
configuration). The clock starts before the request is sent and stops at the first proxied
request the last route of the new file serves (probed every 2 ms on a keep-alive connection
opened before). Also printed: when the 201 came (the node answers once every worker serves
the new version), and the same file posted again with check_hash=1 (304).

    .venv/bin/python -m bench.dbless_post_config [--services 10000] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from tests.support.configs import config, write_services_yml
from tests.support.dbless_admin import DblessAdmin
from tests.support.echo_upstream import Upstream
from tests.support.processes import Gateway


def _post(admin: DblessAdmin, body: bytes, query: str = "") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", admin.admin_port, timeout=120)
    try:
        conn.request("POST", f"/config{query}", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _routed(conn: http.client.HTTPConnection, path: str) -> bool:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    return response.status == 200


def run(services: int, rounds: int, as_json: bool) -> None:
    upstream = Upstream("one")
    with tempfile.TemporaryDirectory() as tmp:
        admin = DblessAdmin()
        gateway = Gateway(Path(tmp), config(upstream.port), workers=2, conf={**admin.conf, "log_level": "notice"})
        try:
            gateway.start()
        except BaseException:
            upstream.stop()
            raise
        bodies = []
        for variant in ("a", "b"):
            path = Path(tmp) / f"{variant}.yml"
            write_services_yml(path, services, upstream.port)
            text = path.read_text().replace("/big", f"/{variant}big")
            if as_json:
                text = json.dumps(yaml.safe_load(text))
            bodies.append((json.dumps({"config": text}).encode(), f"/{variant}big{services - 1}/x"))
        what = "JSON" if as_json else "YAML"
        print(f"{services} services, {len(bodies[0][0]) / 1e6:.1f} MB of {what} text posted per round")
        try:
            totals, answers = [], []
            for i in range(rounds):
                body, last = bodies[i % 2]
                probe = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
                probe.connect()
                started = time.perf_counter()
                status = _post(admin, body)
                answered = time.perf_counter() - started
                assert status == 201, status
                while not _routed(probe, last):
                    time.sleep(0.002)
                total = time.perf_counter() - started
                probe.close()
                totals.append(total)
                answers.append(answered)
                print(f"round {i + 1}: 201 after {answered:.2f} s, last route served after {total:.2f} s")
            started = time.perf_counter()
            status = _post(admin, bodies[(rounds - 1) % 2][0], "?check_hash=1")
            print(f"same file again with check_hash=1: {status} after {time.perf_counter() - started:.3f} s")
            print(
                f"to serving: median {statistics.median(totals):.2f} s, max {max(totals):.2f} s; "
                f"201: median {statistics.median(answers):.2f} s"
            )
        finally:
            gateway.stop()
            upstream.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="post the file as JSON text (as KIC does), not YAML")
    args = parser.parse_args()
    run(args.services, args.rounds, args.json)


if __name__ == "__main__":
    main()
