"""Micro-benchmark of one PDK call from a kong-pdk plugin, in-process.

Kong runs Python plugins in a separate plugin server and pays an IPC round trip per PDK call;
Gantry runs them in the worker, so `kong.request.get_header("x")` is a Python call. This times
that call where a plugin makes it (bench/pdk_timer_plugin.py, in its access phase, with timeit),
through the request's real Kong object as dataplane.plugins.testing builds it without a
gateway: once through kong-pdk's Lua-style wrapper (the default: `(value, error)` returned), once
as `--no-lua-style` plugins get it.

    .venv/bin/python -m bench.pdk_call_bench [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "pdk_timer_plugin.py"
TARGET_US = 1.0  # per call


@dataclass
class CallTiming:
    style: str  # "lua-style" or "no-lua-style"
    statement: str
    best_us: float
    median_us: float
    value: str  # what the call returned, as the plugin saw it


def per_call_us(runs_header: str, number: int) -> list[float]:
    """The plugin's x-bench-runs header (seconds per run of ``number`` calls) in us per call."""
    return [float(run) / number * 1e6 for run in runs_header.split(",") if run]


def time_call(lua_style: bool, number: int, repeat: int) -> CallTiming:
    # Imported here: the load benchmarks import this module without needing the data plane.
    import dataplane.proxy  # noqa: F401  (the PDK is imported through the proxy, which it uses)
    from bench import pdk_timer_plugin
    from dataplane.plugins.testing import PluginHarness, Request, plugin_spec

    spec = plugin_spec(PLUGIN, lua_style=lua_style)
    result = PluginHarness(spec).run(Request(headers={"x": "1"}), config={"number": number, "repeat": repeat})
    headers = result.response.headers
    runs = per_call_us(headers["x-bench-runs"], number)
    return CallTiming(
        "lua-style" if lua_style else "no-lua-style",
        pdk_timer_plugin.STATEMENT,
        min(runs),
        statistics.median(runs),
        headers["x-bench-value"],
    )


def measure(number: int = 100_000, repeat: int = 7) -> list[CallTiming]:
    return [time_call(True, number, repeat), time_call(False, number, repeat)]


def render(timings: list[CallTiming]) -> str:
    rows = [
        f"| PDK call from a kong-pdk plugin | style | best (us) | median (us) | < {TARGET_US:g} us | returned |",
        "|---|---|---:|---:|---|---|",
    ]
    for t in timings:
        met = "met" if t.median_us < TARGET_US else "missed"
        rows.append(f"| `{t.statement}` | {t.style} | {t.best_us:.3f} | {t.median_us:.3f} | {met} | `{t.value}` |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=100_000, help="calls per timed run")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs (best and median reported)")
    args = parser.parse_args()
    print(render(measure(args.number, args.repeat)))


if __name__ == "__main__":
    main()
