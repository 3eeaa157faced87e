"""Proxy throughput benchmark: Gantry against nginx, both in front of the same upstream, in one run.

Targets, all measured in the same run so their numbers can be compared as ratios:

    upstream   wrk straight at the upstream nginx (reference: the ceiling of this setup)
    nginx      nginx as a keep-alive reverse proxy (1 worker) in front of the upstream
    gantry     `dataplane run -c kong.conf` (1 worker, DB-less, one service, route `/`)
    gantry-stream  the same Gantry process, route `/stream` with `request_buffering: false`

Loads: a bodiless `GET` and a `POST` with a 1 KiB body (Content-Length), each target measured
under each. gantry/gantry-stream is what buffering the request body costs.

Pinning: the proxy under test (nginx proxy or Gantry) runs on CPU 0; the upstream and wrk share
CPU 1, so the two proxies compete for exactly the same resources.

Usage: python -m bench.run [--duration SECS] [--quick] [--rounds N] [--load get|post|both] [--keep-tmp]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
DATAPLANE = REPO / ".venv" / "bin" / "dataplane"

# A small fixed body (100 bytes) so the numbers measure proxying, not payload copying.
BODY = ("gantry bench upstream: a small fixed body of one hundred bytes, " + "x" * 35 + "\n").encode()
assert len(BODY) == 100
# The small POST's body: below client_body_buffer_size (8k), so a buffered one stays in memory.
POST_BYTES = 1024
POST_BODY = b"x" * POST_BYTES  # what post_script's string.rep sends
STREAM_PATH = "/stream"  # Gantry's route with request_buffering: false
TARGETS = ("upstream", "nginx", "gantry", "gantry-stream")
LOADS = {"get": "bodiless GET", "post": f"POST with a {POST_BYTES}-byte body (Content-Length)"}
# (target, baseline) pairs reported as throughput ratios, per load.
RATIOS = (("gantry", "nginx"), ("gantry", "gantry-stream"))

PROXY_CPU = "0"
CLIENT_CPU = "1"  # wrk and the upstream
WRK_THREADS = 1
WRK_CONNECTIONS = 50
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class BenchError(RuntimeError):
    """A failure the harness reports in one line instead of a traceback."""


@dataclass
class Result:
    target: str
    load: str = "get"
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""
    rounds: list[dict] = field(default_factory=list)
    cpu_us: float | None = None  # the proxy's CPU per request, when the run measured it


# --------------------------------------------------------------------------- processes


class Processes:
    """Every server the harness starts, each in its own session so its whole group can be killed."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        self.procs.append((name, proc))
        return proc

    def stop_all(self) -> None:
        _stop([proc for _name, proc in self.procs])
        self.procs.clear()

    def stop(self, name: str) -> None:
        """Stop the processes started as ``name`` (a server about to be started again)."""
        _stop([proc for n, proc in self.procs if n == name])
        self.procs = [(n, proc) for n, proc in self.procs if n != name]


def _stop(procs: list[subprocess.Popen]) -> None:
    # Newest first: the proxies go before the upstream they talk to.
    for proc in reversed(procs):
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in reversed(procs):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        # SIGKILL the group even when the leader is gone: workers may outlive their supervisor.
        _signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"warning: pid {proc.pid} did not exit", file=sys.stderr)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # start_new_session made pid the group id


def free_port() -> int:
    """A port the kernel just handed out on loopback (reused within milliseconds by the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pinned(cpu: str, argv: list[str], cpus_ok: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if cpus_ok else argv


def http_request(
    port: int,
    path: str,
    body: bytes | None = None,
    timeout: float = 2.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """GET, or POST when there is a body (sent with its Content-Length, as wrk sends it)."""
    status, _, data = http_exchange(port, path, body, timeout, headers)
    return status, data


def http_exchange(
    port: int,
    path: str,
    body: bytes | None = None,
    timeout: float = 2.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """http_request with the response's header fields too."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET" if body is None else "POST", path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def log_tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def wait_ready(proc: subprocess.Popen, port: int, path: str, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Poll until `GET path` answers 200; fail early with the log tail if the process exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited with code {proc.returncode}: {log_tail(log, 1) or 'no output'}")
        try:
            status, _ = http_request(port, path, timeout=1.0)
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise BenchError(f"not ready after {timeout:.0f}s on :{port}{path} ({last})")


def check_body(port: int, path: str = "/", headers: Mapping[str, str] | None = None) -> None:
    """The target must relay the upstream's answer under every load, or we would be measuring
    error pages (a 404 from a missing route, a 405 from a server refusing POST, a 401 from an
    auth plugin)."""
    for load in LOADS:
        what = f"{'POST' if load == 'post' else 'GET'} {path}"
        try:
            status, body = http_request(port, path, load_body(load), timeout=5.0, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            raise BenchError(f"{what} failed: {exc!r}") from None
        if status != 200 or body != BODY:
            raise BenchError(f"{what} answered {status} with {body[:80]!r} instead of the upstream body")


def load_body(load: str) -> bytes | None:
    return POST_BODY if load == "post" else None


# --------------------------------------------------------------------------- configs


def nginx_conf(prefix: Path, server_block: str, http_extra: str = "") -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
{temp}
    # Steady-state keep-alive: no connection churn every 1000 requests (nginx's default).
    keepalive_requests 1000000;
    keepalive_timeout 60s;
{http_extra}
{server_block}
}}
"""


def upstream_conf(prefix: Path, port: int) -> str:
    body = BODY.decode().rstrip("\n")
    server = f"""    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/plain;
            return 200 "{body}\\n";
        }}
    }}"""
    return nginx_conf(prefix, server)


def proxy_conf(prefix: Path, port: int, upstream_port: int) -> str:
    pool = f"""    upstream backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}"""
    server = f"""    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""
    return nginx_conf(prefix, server, pool)


def gantry_yml(upstream_port: int) -> str:
    return f"""_format_version: "3.0"
services:
  - name: bench-upstream
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: bench-all
        paths: ["/"]
      # The same service, body streamed: the baseline that isolates request_buffering's cost.
      - name: bench-stream
        paths: ["{STREAM_PATH}"]
        request_buffering: false
"""


def gantry_conf(prefix: Path, port: int, status_port: int, yml: Path) -> str:
    return f"""# generated by bench/run.py
prefix = {prefix}
database = off
declarative_config = {yml}
nginx_worker_processes = 1
proxy_listen = 127.0.0.1:{port} reuseport
proxy_access_log = off
status_listen = 127.0.0.1:{status_port}
admin_listen = off
"""


# --------------------------------------------------------------------------- wrk


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> dict:
    """requests/s, p50/p99 (ms) and error counts from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not rps:
        raise BenchError(f"cannot parse wrk output: {text.strip()[-200:]!r}")
    out: dict = {"rps": float(rps.group(1))}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        out[f"p{pct}_ms"] = _to_ms(*m.groups()) if m else None
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    out["requests"] = int(total.group(1)) if total else None
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(n) for n in sock.groups()) if sock else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    return out


def post_script() -> str:
    """wrk's Lua for the small POST; wrk.format adds the Content-Length of wrk.body."""
    return f"""-- generated by bench/run.py
wrk.method = "POST"
wrk.body = string.rep("x", {POST_BYTES})
wrk.headers["Content-Type"] = "application/octet-stream"
"""


def write_scripts(tmp: Path) -> dict[str, Path | None]:
    """The wrk script per load (none for the bodiless GET)."""
    path = tmp / "post.lua"
    path.write_text(post_script())
    return {"get": None, "post": path}


def run_wrk(
    url: str, secs: int, cpus_ok: bool, script: Path | None = None, headers: Mapping[str, str] | None = None
) -> dict:
    lua = ["-s", str(script)] if script else []
    fields = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    argv = pinned(
        CLIENT_CPU,
        ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{secs}s", "--latency", *lua, *fields, url],
        cpus_ok,
    )
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {secs + 30}s") from None
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-200:]}")
    return parse_wrk(proc.stdout)


# --------------------------------------------------------------------------- reporting


def _version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info(cpus_ok: bool) -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # --dirty: numbers from a tree with uncommitted changes should say so.
    git = _version(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "loadavg_at_start": _loadavg(),
        "nginx": _version(["nginx", "-v"]),
        "wrk": _version(["wrk", "-v"]).split(" Copyright")[0],
        "python": platform.python_version(),
        "gantry_commit": git,
        "pinning": f"proxy on CPU {PROXY_CPU}, upstream and wrk on CPU {CLIENT_CPU}"
        if cpus_ok
        else "none (fewer than 2 CPUs)",
        "wrk_args": f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency",
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render_table(results: list[Result], cpu: bool = False) -> str:
    """The table of one load's results; ``cpu``: with the proxy's CPU time per request."""
    nginx = next((r for r in results if r.target == "nginx" and r.rps), None)
    cpu_head, cpu_rule = (" proxy CPU (us/request) |", "---:|") if cpu else ("", "")
    rows = [
        f"| target | requests/s | p50 (ms) | p99 (ms) | throughput vs nginx |{cpu_head} note |",
        f"|---|---:|---:|---:|---:|{cpu_rule}---|",
    ]
    for r in results:
        ratio = f"{r.rps / nginx.rps:.2f}" if (r.rps and nginx) else "-"
        cpu_cell = f" {_fmt(r.cpu_us, '.1f')} |" if cpu else ""
        rows.append(
            f"| {r.target} | {_fmt(r.rps, ',.0f')} | {_fmt(r.p50_ms, '.2f')} | "
            f"{_fmt(r.p99_ms, '.2f')} | {ratio} |{cpu_cell} {r.note.replace('|', '/')} |"
        )
    return "\n".join(rows)


def per_round_ratios(results: list[Result], target: str = "gantry", base: str = "nginx") -> list[float]:
    """target/base throughput within each round (one load's results): the pair measured closest
    together in time."""
    by_name = {r.target: r for r in results}
    pairs = (
        zip(by_name[target].rounds, by_name[base].rounds, strict=False) if target in by_name and base in by_name else []
    )
    return [round(t["rps"] / b["rps"], 3) for t, b in pairs if b["rps"]]


def ratios(results: list[Result], pairs: Sequence[tuple[str, str]] = RATIOS) -> dict[str, dict]:
    """One load's throughput ratios (RATIOS unless ``pairs`` says), each as the ratio of the
    medians and the per-round ratios; a pair with a target that was not measured is left out."""
    rps = {r.target: r.rps for r in results if r.rps}
    return {
        f"{t}/{b}": {"medians": round(rps[t] / rps[b], 3), "per_round": per_round_ratios(results, t, b)}
        for t, b in pairs
        if t in rps and b in rps
    }


def by_load(results: list[Result]) -> dict[str, list[Result]]:
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.load, []).append(r)
    return groups


def render_load(load: str, results: list[Result]) -> str:
    """One load's table and ratio lines, as printed and written to the markdown results."""
    lines = [f"## {load}: {LOADS[load]}", "", render_table(results), ""]
    for name, value in ratios(results).items():
        lines.append(f"- {name}: {value['medians']:.3f} (medians); per round: {value['per_round']}")
    return "\n".join(lines)


def write_results(results: list[Result], info: dict, args: argparse.Namespace) -> tuple[Path, Path]:
    groups = by_load(results)
    payload = {
        "machine": info,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "post_body_bytes": POST_BYTES,
        "results": [asdict(r) for r in results],
        "ratios": {load: ratios(group) for load, group in groups.items()},
    }
    meta = "\n".join(f"- {k}: {v}" for k, v in info.items())
    sections = "\n\n".join(render_load(load, group) for load, group in groups.items())
    md = (
        f"# Gantry proxy benchmark, {info['date']}\n\n{sections}\n\n"
        f"Measured {args.rounds} round(s) of {args.duration}s after a {args.warmup}s warm-up per target "
        f"and load; medians across rounds.\n\n{meta}\n"
    )
    return save_results("", payload, md)


def save_results(prefix: str, payload: dict, md: str) -> tuple[Path, Path]:
    """bench/results/<prefix><timestamp>.{json,md}, copied to <prefix>latest.{json,md}."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path, md_path = RESULTS_DIR / f"{prefix}{stamp}.json", RESULTS_DIR / f"{prefix}{stamp}.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path.write_text(md)
    shutil.copyfile(json_path, RESULTS_DIR / f"{prefix}latest.json")
    shutil.copyfile(md_path, RESULTS_DIR / f"{prefix}latest.md")
    return json_path, md_path


# --------------------------------------------------------------------------- main


def claim(port: int) -> None:
    """Fail clearly when something already listens on the port we are about to hand out."""
    if not port_is_free(port):
        raise BenchError(f"port 127.0.0.1:{port} is already taken")


def start_nginx(
    procs: Processes, name: str, tmp: Path, conf: str, port: int, cpu: str, cpus_ok: bool
) -> subprocess.Popen:
    claim(port)
    prefix = tmp / name
    prefix.mkdir()
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    log = prefix / "stdout.log"
    argv = ["nginx", "-p", f"{prefix}/", "-c", str(conf_path), "-e", str(prefix / "error.log")]
    proc = procs.start(name, pinned(cpu, argv, cpus_ok), log)
    try:
        wait_ready(proc, port, "/", log, timeout=10)
    except BenchError as exc:
        raise BenchError(f"{name} nginx: {exc} {log_tail(prefix / 'error.log')}") from None
    check_body(port)
    return proc


# A path Gantry must relay the upstream's body on, with the header fields to send (an apikey).
Probe = tuple[str, Mapping[str, str] | None]


def start_gantry(
    procs: Processes,
    tmp: Path,
    port: int,
    yml: str,
    cpus_ok: bool,
    probes: Sequence[Probe] = (("/", None),),
    name: str = "gantry",
) -> subprocess.Popen:
    """`dataplane run` DB-less on ``yml`` (a kong.yml's text), ready and relaying the upstream's
    body on every probe. Files go to ``tmp/name*`` (a second start needs another name). Raises
    BenchError with the reason Gantry cannot be measured."""
    if not DATAPLANE.exists():
        raise BenchError(f"{DATAPLANE.relative_to(REPO)} not found (build the package into the venv)")
    prefix = tmp / name
    prefix.mkdir()
    yml_path = tmp / f"{name}-kong.yml"
    yml_path.write_text(yml)
    status_port = free_port()
    claim(port)
    claim(status_port)
    conf = tmp / f"{name}-kong.conf"
    conf.write_text(gantry_conf(prefix, port, status_port, yml_path))
    log = tmp / f"{name}.log"
    # KONG_* variables would override the generated kong.conf; the run must not depend on them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONG_")}
    proc = procs.start(name, pinned(PROXY_CPU, [str(DATAPLANE), "run", "-c", str(conf)], cpus_ok), log, env)
    try:
        wait_ready(proc, status_port, "/status/ready", log)
        for path, headers in probes:
            check_body(port, path, headers)
    except BenchError as exc:
        raise BenchError(f"{exc}; log: {log_tail(log, 1)}") from None
    return proc


def round_order(live: list[Result], rnd: int) -> list[Result]:
    """Every other round backwards (A B C D, D C B A, ...), so that no target is always the one
    measured just before or after another: a slow drift of the machine's load then favours none."""
    return live if rnd % 2 else live[::-1]


# Measures one result's target for the given seconds: parse_wrk's keys (rps, p50_ms, p99_ms,
# requests, socket_errors, non_2xx), optionally cpu_us.
Runner = Callable[[Result, int], dict]


def measure(live: list[Result], run_one: Runner, args: argparse.Namespace) -> None:
    """``args.rounds`` rounds over ``live``, each run after a discarded warm-up, then medians."""
    for rnd in range(1, args.rounds + 1):
        for r in round_order(live, rnd):
            if r.note.startswith("failed"):
                continue
            label = f"[round {rnd}/{args.rounds}] {r.load} {r.target}"
            try:
                print(f"{label}: warm-up {args.warmup}s", flush=True)
                run_one(r, args.warmup)
                print(f"{label}: measuring {args.duration}s", flush=True)
                out = run_one(r, args.duration)
            except BenchError as exc:
                r.note = f"failed: {exc}"
                continue
            cpu = f", proxy CPU {out['cpu_us']:.1f} us/request" if out.get("cpu_us") is not None else ""
            print(
                f"{label}: {out['rps']:,.0f} req/s, p50 {_fmt(out['p50_ms'], '.2f')} ms, "
                f"p99 {_fmt(out['p99_ms'], '.2f')} ms{cpu}",
                flush=True,
            )
            r.rounds.append(out)
    for r in live:
        summarize(r)


def summarize(r: Result) -> None:
    """Medians across rounds, and the errors the client counted in any of them."""
    if not r.rounds:
        return
    r.rps = statistics.median(o["rps"] for o in r.rounds)
    r.p50_ms = _median([o["p50_ms"] for o in r.rounds])
    r.p99_ms = _median([o["p99_ms"] for o in r.rounds])
    r.cpu_us = _median([o.get("cpu_us") for o in r.rounds])
    errors = sum(o["socket_errors"] for o in r.rounds)
    non2xx = sum(o["non_2xx"] for o in r.rounds)
    if errors or non2xx:
        r.note = (r.note + f" socket errors {errors}, non-2xx {non2xx}").strip()


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every load benchmark of this harness takes."""
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="seconds of warm-up per target (default 3, 1 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="3 s measured runs")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the targets N times, report medians")
    parser.add_argument("--keep-tmp", action="store_true", help="keep generated configs and logs")


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    if args.quick:
        args.duration = 3
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.duration < 1 or args.warmup < 1 or args.rounds < 1:
        parser.error("--duration, --warmup and --rounds must be at least 1")
    return args


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Gantry vs nginx proxy benchmark (wrk, one run, pinned CPUs)")
    add_run_options(parser)
    parser.add_argument(
        "--load", choices=[*LOADS, "both"], default="both", help="bodiless GET, small POST, or both (default)"
    )
    args = check_run_options(parser, parser.parse_args(argv))
    args.loads = list(LOADS) if args.load == "both" else [args.load]
    return args


def set_note(results: list[Result], target: str, note: str) -> None:
    for r in results:
        if r.target == target:
            r.note = note


def missing_tools(tools: Sequence[str]) -> bool:
    """Say which of the tools is not on PATH; True when one is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    for tool in missing:
        print(f"error: {tool} not found; run bench/run.sh or `apt-get install -y {tool}`", file=sys.stderr)
    return bool(missing)


def can_pin() -> bool:
    """Whether the proxy can get CPU 0 to itself and the client and upstream CPU 1."""
    ok = shutil.which("taskset") is not None and {0, 1} <= os.sched_getaffinity(0)
    if not ok:
        print("warning: CPUs 0 and 1 are not both available (or no taskset): running unpinned", file=sys.stderr)
    return ok


@contextlib.contextmanager
def session(keep_tmp: bool) -> Iterator[tuple[Path, Processes]]:
    """A temporary directory and the processes started in it, all stopped on the way out
    (SIGTERM takes the same path as Ctrl-C)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="gantry-bench-"))
    tmp.chmod(0o755)  # nginx workers drop privileges when started as root
    procs = Processes()
    try:
        yield tmp, procs
    finally:
        procs.stop_all()
        if keep_tmp:
            print(f"configs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Peers:
    """The upstream and the nginx proxy in front of it, both serving."""

    upstream_port: int
    nginx_port: int
    nginx: subprocess.Popen


def start_peers(procs: Processes, tmp: Path, cpus_ok: bool) -> Peers:
    up_port = free_port()
    start_nginx(procs, "upstream", tmp, upstream_conf(tmp / "upstream", up_port), up_port, CLIENT_CPU, cpus_ok)
    px_port = free_port()
    proxy = start_nginx(procs, "nginx", tmp, proxy_conf(tmp / "nginx", px_port, up_port), px_port, PROXY_CPU, cpus_ok)
    return Peers(up_port, px_port, proxy)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if missing_tools(("nginx", "wrk")):
        return 2
    cpus_ok = can_pin()
    # Loads outer, so that one load's targets are measured one after the other in each round.
    results = [Result(target, load) for load in args.loads for target in TARGETS]
    urls: dict[str, str] = {}
    try:
        with session(args.keep_tmp) as (tmp, procs):
            info = machine_info(cpus_ok)
            scripts = write_scripts(tmp)
            peers = start_peers(procs, tmp, cpus_ok)
            urls["upstream"] = f"http://127.0.0.1:{peers.upstream_port}/"
            set_note(results, "upstream", "reference: wrk straight at the upstream")
            urls["nginx"] = f"http://127.0.0.1:{peers.nginx_port}/"

            gw_port = free_port()
            try:
                probes = (("/", None), (STREAM_PATH, None))
                start_gantry(procs, tmp, gw_port, gantry_yml(peers.upstream_port), cpus_ok, probes)
                urls["gantry"] = f"http://127.0.0.1:{gw_port}/"
                urls["gantry-stream"] = f"http://127.0.0.1:{gw_port}{STREAM_PATH}"
            except BenchError as exc:
                for target in ("gantry", "gantry-stream"):
                    set_note(results, target, f"gantry: not available ({exc})")
                print(f"gantry: not available ({exc})", file=sys.stderr)

            def run_one(r: Result, secs: int) -> dict:
                return run_wrk(urls[r.target], secs, cpus_ok, scripts[r.load])

            measure([r for r in results if r.target in urls], run_one, args)
            info["loadavg_at_end"] = _loadavg()
            for load, group in by_load(results).items():
                print("\n" + render_load(load, group))
            print()
            json_path, md_path = write_results(results, info, args)
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
