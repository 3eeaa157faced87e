"""Authentication plugin benchmark: what basic-auth, jwt HS256 and jwt RS256 cost per request
against a plugin-less route, next to nginx, in one run.

One upstream, one nginx reverse proxy and one Gantry process (DB-less, a kong.yml written here)
with five routes on the same service: plugin-less `/`, key-auth on `/key-auth` (the reference
for what any plugin on a route costs), basic-auth on `/basic-auth`, jwt on `/jwt-hs256` and
`/jwt-rs256`, each with a consumer credential the client presents (an apikey; a basic-auth
username and password; an HS256 token; an RS256 token signed by a 2048-bit key whose public half
is the credential's `rsa_public_key`). Every target is loaded by wrk (50 connections), rounds
alternating, with the proxy pinned to CPU 0 and wrk and the upstream to CPU 1 (as
bench/run.py); the proxy's CPU time per request is read from /proc around each measured run.

    .venv/bin/python -m bench.auth_bench [--duration SECS] [--rounds N] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.plugins_bench import group_cpu_seconds
from bench.run import (
    REPO,
    BenchError,
    Result,
    _loadavg,
    add_run_options,
    by_load,
    can_pin,
    check_run_options,
    free_port,
    http_exchange,
    machine_info,
    measure,
    missing_tools,
    ratios,
    render_table,
    run_wrk,
    save_results,
    session,
    set_note,
    start_gantry,
    start_peers,
)

USER, PASSWORD = "bench", "bench-password"
HS_KEY, HS_SECRET, RS_KEY = "bench-hs256", "bench-hs256-secret-of-32-bytes!!", "bench-rs256"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(alg: str, key: str) -> str:
    head = _b64url(json.dumps({"typ": "JWT", "alg": alg}).encode())
    body = _b64url(json.dumps({"iss": key, "exp": int(time.time()) + 86400}).encode())
    data = f"{head}.{body}".encode()
    if alg == "HS256":
        signature = hmac.new(HS_SECRET.encode(), data, hashlib.sha256).digest()
    else:
        signature = PRIVATE.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64url(signature)}"


HEADERS: dict[str, Mapping[str, str]] = {
    "key-auth": {"apikey": "bench-key"},  # the reference: what any plugin on a route costs
    "basic-auth": {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
    "jwt-hs256": {"Authorization": f"Bearer {_token('HS256', HS_KEY)}"},
    "jwt-rs256": {"Authorization": f"Bearer {_token('RS256', RS_KEY)}"},
}
# target -> (path on its proxy, the headers it sends)
TARGETS: Mapping[str, tuple[str, Mapping[str, str] | None]] = {
    "upstream": ("/", None),
    "nginx": ("/", None),
    "gantry": ("/", None),
    **{f"gantry-{name}": (f"/{name}", headers) for name, headers in HEADERS.items()},
}
PAIRS = (
    ("gantry", "nginx"),
    ("gantry-key-auth", "gantry"),
    ("gantry-basic-auth", "gantry"),
    ("gantry-jwt-hs256", "gantry"),
    ("gantry-jwt-rs256", "gantry"),
    ("gantry-basic-auth", "gantry-key-auth"),
    ("gantry-jwt-hs256", "gantry-key-auth"),
    ("gantry-jwt-rs256", "gantry-key-auth"),
)
COST_TARGET = 0.15  # jwt HS256 may cost at most 15% of the plugin-less throughput


def auth_yml(upstream_port: int) -> str:
    public = PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    document = {
        "_format_version": "3.0",
        "consumers": [
            {
                "username": "bench",
                "keyauth_credentials": [{"key": "bench-key"}],
                "basicauth_credentials": [{"username": USER, "password": PASSWORD}],
                "jwt_secrets": [
                    {"key": HS_KEY, "secret": HS_SECRET},
                    {"key": RS_KEY, "algorithm": "RS256", "rsa_public_key": public.decode()},
                ],
            }
        ],
        "services": [
            {
                "name": "bench-upstream",
                "url": f"http://127.0.0.1:{upstream_port}",
                "routes": [
                    {"name": "bench-plain", "paths": ["/"]},
                    {"name": "bench-key-auth", "paths": ["/key-auth"], "plugins": [{"name": "key-auth"}]},
                    {"name": "bench-basic-auth", "paths": ["/basic-auth"], "plugins": [{"name": "basic-auth"}]},
                    {"name": "bench-jwt-hs256", "paths": ["/jwt-hs256"], "plugins": [{"name": "jwt"}]},
                    {"name": "bench-jwt-rs256", "paths": ["/jwt-rs256"], "plugins": [{"name": "jwt"}]},
                ],
            }
        ],
    }
    return json.dumps(document)  # a kong.yml may be JSON


def check_plugins(port: int) -> None:
    """Each plugin must really be in effect: without its credential the route answers 401."""
    for name in HEADERS:
        status, _, _ = http_exchange(port, f"/{name}", timeout=5.0)
        if status != 401:
            raise BenchError(f"GET /{name} without a credential answered {status}, not 401")


def verdict(results: list[Result]) -> str:
    parts = []
    for tool, group in by_load(results).items():
        measured = ratios(group, PAIRS)
        by_cpu = cpu_ratios_of(group)
        for target in ("gantry-key-auth", "gantry-basic-auth", "gantry-jwt-hs256", "gantry-jwt-rs256"):
            pair = f"{target}/gantry"
            if pair in measured:
                cpu = f", by proxy CPU per request {1 - by_cpu[pair]:.1%}" if pair in by_cpu else ""
                over = measured.get(f"{target}/gantry-key-auth")
                beyond = f"; beyond key-auth's route {1 - over['medians']:.1%}" if over else ""
                parts.append(f"{target[7:]}: {tool} throughput cost {1 - measured[pair]['medians']:.1%}{cpu}{beyond}")
    head = f"cost against the plugin-less route (target for jwt HS256: at most {COST_TARGET:.0%})"
    return head + ":\n" + "\n".join(f"- {p}" for p in parts) if parts else head + ": not measured"


def cpu_ratios_of(results: list[Result]) -> dict[str, float]:
    cpu = {r.target: r.cpu_us for r in results if r.cpu_us}
    return {f"{t}/{b}": round(cpu[b] / cpu[t], 3) for t, b in PAIRS if t in cpu and b in cpu}


def render(results: list[Result]) -> str:
    lines = ["## wrk -t1 -c50 (closed model: each target's throughput)", "", render_table(results, cpu=True), ""]
    for name, value in ratios(results, PAIRS).items():
        lines.append(f"- throughput {name}: {value['medians']:.3f} (medians); per round: {value['per_round']}")
    for name, cpu_ratio in cpu_ratios_of(results).items():
        lines.append(f"- by proxy CPU per request, {name}: {cpu_ratio:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="basic-auth and jwt under load (wrk), next to nginx")
    add_run_options(parser)
    args = check_run_options(parser, parser.parse_args(argv))
    if missing_tools(("nginx", "wrk")):
        return 2
    cpus_ok = can_pin()
    results = [Result(target, "wrk") for target in TARGETS]
    try:
        with session(args.keep_tmp) as (tmp, procs):
            info = machine_info(cpus_ok)
            peers = start_peers(procs, tmp, cpus_ok)
            ports = {"upstream": peers.upstream_port, "nginx": peers.nginx_port}
            groups: dict[str, int] = {"nginx": peers.nginx.pid}
            set_note(results, "upstream", "reference: the client straight at the upstream")
            port = free_port()
            probes = [(path, headers) for path, headers in TARGETS.values() if path != "/"] + [("/", None)]
            proc = start_gantry(procs, tmp, port, auth_yml(peers.upstream_port), cpus_ok, probes)
            check_plugins(port)
            for target in TARGETS:
                if target.startswith("gantry"):
                    ports[target] = port
                    groups[target] = proc.pid

            def run_one(r: Result, secs: int) -> dict:
                path, headers = TARGETS[r.target]
                pgid = groups.get(r.target)
                before = group_cpu_seconds(pgid) if pgid else 0.0
                out = run_wrk(f"http://127.0.0.1:{ports[r.target]}{path}", secs, cpus_ok, headers=headers)
                if pgid and out.get("requests"):
                    out["cpu_us"] = (group_cpu_seconds(pgid) - before) / out["requests"] * 1e6
                return out

            measure(results, run_one, args)
            info["loadavg_at_end"] = _loadavg()
        text = render(results) + "\n\n" + verdict(results)
        print("\n" + text + "\n")
        payload = {
            "machine": info,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "results": [asdict(r) for r in results],
            "ratios": ratios(results, PAIRS),
            "cpu_ratios": cpu_ratios_of(results),
        }
        meta = "\n".join(f"- {k}: {v}" for k, v in info.items())
        md = (
            f"# Gantry authentication plugin benchmark, {info['date']}\n\n{text}\n\n"
            f"Measured {args.rounds} round(s) of {args.duration}s after a {args.warmup}s warm-up per target; "
            f"medians across rounds.\n\n{meta}\n"
        )
        json_path, md_path = save_results("auth-", payload, md)
        print(f"wrote {json_path.relative_to(REPO)} and {md_path.relative_to(REPO)}")
        return 0
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
