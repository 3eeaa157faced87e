"""Micro-benchmark of the proxy's own Python per request on an authentication plugin's route,
without sockets (bench/hot_path_bench.py's in-memory client and upstream connections).

One route, with no plugin or with one of key-auth, basic-auth, jwt (HS256) or jwt (RS256, a
2048-bit key), and the credential the client presents on every request; the event loop runs
once after each request, as a worker's does between reads (the log phase is scheduled there).
Process CPU time per request is reported, median and best of the rounds.

    .venv/bin/python -m bench.auth_hot_path_bench [--requests N] [--rounds R] [--profile] [TARGET ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import dataclasses
import hashlib
import hmac
import json
import pstats
import statistics
import time
from typing import Any

import orjson
import uvloop
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.hot_path_bench import RESPONSE, UPSTREAM, MemoryTransport
from dataplane._core import Router
from dataplane.plugins import load_registry
from dataplane.proxy import ProxySettings, ProxyState, Runtime, make_protocol_factory
from dataplane.proxy.upstream import UpstreamConnection
from dataplane.schema import process

CONSUMER = {"id": "c0000000-0000-4000-8000-000000000001", "username": "bench"}
ROUTE_ID = "70000000-0000-4000-8000-000000000001"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(alg: str, key: str) -> str:
    signed = f"{_b64url(json.dumps({'typ': 'JWT', 'alg': alg}).encode())}.{_b64url(json.dumps({'iss': key}).encode())}"
    if alg == "HS256":
        signature = hmac.new(b"bench-secret", signed.encode(), hashlib.sha256).digest()
    else:
        signature = PRIVATE.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{_b64url(signature)}"


# target -> (the route's plugin, the request's credential header)
TARGETS: dict[str, tuple[str | None, str]] = {
    "none": (None, ""),
    "key-auth": ("key-auth", "apikey: bench-key"),
    "basic-auth": ("basic-auth", "Authorization: Basic " + base64.b64encode(b"bench:bench-password").decode()),
    "jwt-hs256": ("jwt", f"Authorization: Bearer {_token('HS256', 'hs')}"),
    "jwt-rs256": ("jwt", f"Authorization: Bearer {_token('RS256', 'rs')}"),
    # bench/plugins_bench.py's pair: limits never reached, counted in the node's shared memory
    "key-auth+rate-limiting": ("key-auth+rate-limiting", "apikey: bench-key"),
}
CONFIGS: dict[str, dict[str, Any]] = {"rate-limiting": {"second": 10**9, "hour": 10**12, "policy": "local"}}


def entities() -> dict[str, list[dict[str, Any]]]:
    owner = {"id": CONSUMER["id"]}
    public = PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    password = hashlib.sha1(b"bench-password" + CONSUMER["id"].encode()).hexdigest()  # as Kong stores it
    return {
        "consumers": [CONSUMER],
        "keyauth_credentials": [{"id": "ka", "key": "bench-key", "consumer": owner}],
        "basicauth_credentials": [{"id": "ba", "username": "bench", "password": password, "consumer": owner}],
        "jwt_secrets": [
            {"id": "hs", "key": "hs", "secret": "bench-secret", "algorithm": "HS256", "consumer": owner},
            {"id": "rs", "key": "rs", "rsa_public_key": public.decode(), "algorithm": "RS256", "consumer": owner},
        ],
    }


def build_state(plugin: str | None) -> ProxyState:
    services = [orjson.dumps({"id": "svc", "host": UPSTREAM[0], "port": UPSTREAM[1], "path": "/", "protocol": "http"})]
    routes = [orjson.dumps({"id": ROUTE_ID, "service": {"id": "svc"}, "paths": ["/"]})]
    settings = dataclasses.replace(
        ProxySettings(), client_keepalive_requests=1 << 40, upstream_keepalive_max_requests=1 << 40
    )
    plugins = []
    for at, name in enumerate(plugin.split("+") if plugin is not None else ()):
        data = {"id": f"90000000-0000-4000-8000-00000000000{at + 1}", "name": name, "route": {"id": ROUTE_ID}}
        if name in CONFIGS:
            data["config"] = CONFIGS[name]
        entity, problems = process("plugins", data, extra_plugins=frozenset((name,)))
        if problems:
            raise SystemExit(f"{name}: {problems}")
        plugins.append(entity)
    runtime = Runtime.build(
        1,
        "hash",
        Router.from_json(routes, services),
        [orjson.loads(s) for s in services],
        {},
        [],
        settings,
        plugins=plugins,
        entities=entities(),
        registry=load_registry(("bundled",)),
    )
    return ProxyState(settings, runtime)


def run(target: str, requests: int, rounds: int, profile: bool) -> float:
    plugin, header = TARGETS[target]
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{header + chr(13) + chr(10) if header else ''}\r\n".encode()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> float:
        state = build_state(plugin)
        client = make_protocol_factory(state)()
        client_transport = MemoryTransport({"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)})
        client.connection_made(client_transport)
        assert state.runtime is not None
        service = state.runtime.services["svc"]
        upstream = UpstreamConnection(state.pool, (UPSTREAM[0], UPSTREAM[1], service.ssl_context, None))
        upstream_transport = MemoryTransport({})
        upstream.connection_made(upstream_transport)
        state.pool.release(upstream)

        def one() -> None:
            client.data_received(request)
            upstream.data_received(RESPONSE)

        one()
        answer = client_transport.take()
        if not answer.startswith(b"HTTP/1.1 200 OK\r\n"):
            raise SystemExit(f"{target}: the proxy did not answer 200:\n{answer[:300]!r}")
        upstream_transport.take()
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
                await asyncio.sleep(0)  # what runs between two reads of a worker (the log phase)
            per_request.append((time.process_time() - started) / requests * 1e6)
            if profiler:
                profiler.disable()
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print(f"{target}: median {statistics.median(per_request):.2f} us, best {min(per_request):.2f} us per request")
        return statistics.median(per_request)

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile of the timed rounds")
    args = parser.parse_args()
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}: one of {', '.join(TARGETS)}")
    args.targets = args.targets or list(TARGETS)
    medians = {target: run(target, args.requests, args.rounds, args.profile) for target in args.targets}
    if "none" in medians:
        for target, value in medians.items():
            if target != "none":
                print(f"{target}: {value - medians['none']:.1f} us more than the plugin-less route")


if __name__ == "__main__":
    main()
