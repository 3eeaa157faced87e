"""Micro-benchmark of the proxy's own Python per request, without sockets.

One client connection (``ProxyProtocol``) and one pooled upstream connection
(``UpstreamConnection``) are driven with in-memory transports: each iteration feeds the request
wrk sends, answers with the head and body the bench upstream (nginx) sends, and checks that the
client got a complete response. What is timed is everything Gantry does between the two reads
and the two writes of a proxied request (parsing, routing through the real Rust router, the
phases, header filtering), which is what ``bench/run.py`` cannot separate from the kernel. CPU
time of this process is measured, not wall time, so other load on the machine skews it less.

    .venv/bin/python -m bench.hot_path_bench [--requests N] [--rounds R] [--profile] [--upstream ALGORITHM]

With ``--upstream``, the service's host names an upstream of one target (the same address)
balanced by that algorithm (``round-robin``, ``least-connections``, ``latency``,
``consistent-hashing``), so that the balancer's part of the request path is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import pstats
import statistics
import time

import orjson
import uvloop

from dataplane._core import Balancer, Router
from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory
from dataplane.proxy.upstream import UpstreamConnection

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"  # what wrk sends
BODY = b"x" * 100
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 04:56:13 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n" + BODY
)
UPSTREAM = ("127.0.0.1", 9)


class MemoryTransport(asyncio.Transport):
    """Collects what is written; reading and closing are no-ops the proxy may call."""

    def __init__(self, extra: dict) -> None:
        super().__init__(extra)
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writelines(self, data) -> None:
        self.written.extend(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def take(self) -> bytes:
        data = b"".join(self.written)
        self.written.clear()
        return data


def build_state(algorithm: str | None = None) -> ProxyState:
    host = UPSTREAM[0] if algorithm is None else "pool"
    services = [orjson.dumps({"id": "svc", "host": host, "port": UPSTREAM[1], "path": "/", "protocol": "http"})]
    routes = [orjson.dumps({"id": "route", "service": {"id": "svc"}, "paths": ["/"]})]
    router = Router.from_json(routes, services)
    # one connection each way for the whole run: lift the per-connection request limits
    settings = dataclasses.replace(
        ProxySettings(), client_keepalive_requests=1 << 40, upstream_keepalive_max_requests=1 << 40
    )
    balancers, upstreams = {}, []
    if algorithm is not None:
        upstream = {"id": "u1", "name": "pool", "algorithm": algorithm}
        target = {"id": "t1", "target": f"{UPSTREAM[0]}:{UPSTREAM[1]}", "weight": 100, "upstream": {"id": "u1"}}
        balancers = {"pool": Balancer.from_json(orjson.dumps(upstream), [orjson.dumps(target)])}
        upstreams = [upstream]
    runtime = Runtime.build(
        1, "hash", router, [orjson.loads(s) for s in services], balancers, [], settings, upstreams=upstreams
    )
    return ProxyState(settings, runtime)


def run(requests: int, rounds: int, profile: bool, algorithm: str | None = None) -> None:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        state = build_state(algorithm)
        client = make_protocol_factory(state)()
        client_transport = MemoryTransport({"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)})
        client.connection_made(client_transport)
        service = state.runtime.services["svc"]
        key = (UPSTREAM[0], UPSTREAM[1], service.ssl_context, None)
        upstream = UpstreamConnection(state.pool, key)
        upstream_transport = MemoryTransport({})
        upstream.connection_made(upstream_transport)
        state.pool.release(upstream)

        def one() -> None:
            client.data_received(REQUEST)
            upstream.data_received(RESPONSE)

        one()
        answer = client_transport.take()
        sent = upstream_transport.take()
        if not answer.startswith(b"HTTP/1.1 200 OK\r\n") or not answer.endswith(BODY) or not sent.startswith(b"GET / "):
            raise SystemExit(f"the proxy did not answer as expected:\n{sent!r}\n{answer!r}")
        per_request = []
        profiler = cProfile.Profile() if profile else None
        for _ in range(rounds):
            if profiler:
                profiler.enable()
            started = time.process_time()
            for _ in range(requests):
                one()
                client_transport.written.clear()
                upstream_transport.written.clear()
            per_request.append((time.process_time() - started) / requests * 1e6)
            if profiler:
                profiler.disable()
        print(
            f"Python per proxied request: median {statistics.median(per_request):.2f} µs, "
            f"best {min(per_request):.2f} µs over {rounds} rounds of {requests}"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

    loop.run_until_complete(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the cProfile of the timed rounds")
    parser.add_argument("--upstream", metavar="ALGORITHM", help="balance the service over an upstream of one target")
    args = parser.parse_args()
    run(args.requests, args.rounds, args.profile, args.upstream)


if __name__ == "__main__":
    main()
