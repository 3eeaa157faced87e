"""The benchmark harness's pure parts: wrk output parsing, generated configs, the results table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

# Loaded by path so the test does not depend on the repository root being on sys.path.
_SPEC = importlib.util.spec_from_file_location("bench_run", Path(__file__).resolve().parents[2] / "bench" / "run.py")
run = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = run  # dataclasses look their module up there
_SPEC.loader.exec_module(run)

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:41000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.91ms    1.02ms  30.01ms   97.12%
    Req/Sec    54.21k     3.10k   58.00k    80.00%
  Latency Distribution
     50%  850.00us
     75%    0.95ms
     90%    1.10ms
     99%    1.50s
  539112 requests in 10.00s, 120.32MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  53911.20
Transfer/sec:     12.03MB
"""


def test_parse_wrk_reads_throughput_latency_and_errors() -> None:
    out = run.parse_wrk(WRK_OUTPUT)
    assert out["rps"] == pytest.approx(53911.20)
    assert out["p50_ms"] == pytest.approx(0.85)
    assert out["p99_ms"] == pytest.approx(1500.0)
    assert out["requests"] == 539112
    assert out["socket_errors"] == 5
    assert out["non_2xx"] == 7


def test_parse_wrk_without_errors_lines() -> None:
    text = "\n".join(line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    out = run.parse_wrk(text)
    assert out["socket_errors"] == 0 and out["non_2xx"] == 0


def test_parse_wrk_rejects_garbage() -> None:
    with pytest.raises(run.BenchError):
        run.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_generated_configs(tmp_path: Path) -> None:
    proxy = run.proxy_conf(tmp_path, 8100, 8200)
    assert "server 127.0.0.1:8200;" in proxy and "keepalive 64;" in proxy
    assert 'proxy_set_header Connection "";' in proxy and "proxy_http_version 1.1;" in proxy
    assert "access_log off;" in proxy and "daemon off;" in proxy and "worker_processes 1;" in proxy

    upstream = run.upstream_conf(tmp_path, 8200)
    assert "listen 127.0.0.1:8200;" in upstream and "return 200" in upstream

    conf = run.gantry_conf(tmp_path, 8300, 8301, tmp_path / "kong.yml")
    assert "proxy_listen = 127.0.0.1:8300 reuseport" in conf
    assert "status_listen = 127.0.0.1:8301" in conf
    assert "database = off" in conf and "nginx_worker_processes = 1" in conf
    yml = run.gantry_yml(8200)
    assert "url: http://127.0.0.1:8200" in yml
    # One service, two routes: the default (buffered) one and the streamed baseline.
    assert yml.count("url:") == 1 and 'paths: ["/"]' in yml
    assert f'paths: ["{run.STREAM_PATH}"]\n        request_buffering: false' in yml


def test_post_script_sends_the_checked_body() -> None:
    script = run.post_script()
    assert 'wrk.method = "POST"' in script
    # check_body sends POST_BODY; wrk must send the same bytes.
    assert f'string.rep("x", {len(run.POST_BODY)})' in script and run.POST_BODY == b"x" * len(run.POST_BODY)
    assert run.load_body("post") == run.POST_BODY and run.load_body("get") is None


def test_table_ratios_are_relative_to_nginx() -> None:
    results = [
        run.Result("upstream", rps=60000.0, p50_ms=0.5, p99_ms=1.0),
        run.Result("nginx", rps=40000.0, p50_ms=1.0, p99_ms=2.0),
        run.Result("gantry", note="gantry: not available (a|b)"),
    ]
    table = run.render_table(results).splitlines()
    assert "| 1.50 |" in table[2] and "| 1.00 |" in table[3]
    # A pipe inside a note must not break the markdown table.
    assert table[4].count("|") == 7


def test_free_port_is_bindable() -> None:
    assert run.port_is_free(run.free_port())


def test_per_round_ratios_pair_rounds() -> None:
    nginx = run.Result("nginx", rounds=[{"rps": 40000.0}, {"rps": 50000.0}])
    gantry = run.Result("gantry", rounds=[{"rps": 10000.0}, {"rps": 15000.0}])
    assert run.per_round_ratios([nginx, gantry]) == [0.25, 0.3]
    assert run.per_round_ratios([nginx, run.Result("gantry", note="not available")]) == []


def test_per_round_ratios_against_another_base() -> None:
    gantry = run.Result("gantry", rounds=[{"rps": 19000.0}, {"rps": 21000.0}])
    stream = run.Result("gantry-stream", rounds=[{"rps": 20000.0}, {"rps": 20000.0}])
    assert run.per_round_ratios([gantry, stream], "gantry", "gantry-stream") == [0.95, 1.05]


def test_ratios_of_one_load() -> None:
    results = [
        run.Result("nginx", rps=40000.0, rounds=[{"rps": 40000.0}]),
        run.Result("gantry", rps=20000.0, rounds=[{"rps": 20000.0}]),
        run.Result("gantry-stream", note="failed: wrk"),
    ]
    # A pair whose baseline was not measured is left out, not reported as zero.
    assert run.ratios(results) == {"gantry/nginx": {"medians": 0.5, "per_round": [0.5]}}


def test_results_grouped_and_rendered_per_load() -> None:
    results = [run.Result(t, load) for load in ("get", "post") for t in ("nginx", "gantry")]
    groups = run.by_load(results)
    assert list(groups) == ["get", "post"] and [r.target for r in groups["post"]] == ["nginx", "gantry"]
    assert run.render_load("post", groups["post"]).startswith("## post: POST with a 1024-byte body")


def test_rounds_alternate_direction() -> None:
    live = [run.Result(t) for t in run.TARGETS]
    assert run.round_order(live, 1) == live and run.round_order(live, 2) == live[::-1]


def test_load_option() -> None:
    assert run.parse_args([]).loads == ["get", "post"]
    assert run.parse_args(["--load", "post"]).loads == ["post"]
    with pytest.raises(SystemExit):
        run.parse_args(["--load", "put"])
