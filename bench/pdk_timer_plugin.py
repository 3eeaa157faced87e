"""A kong-pdk plugin that times one PDK call where a plugin makes it: in its access phase, on the
``kong`` object the phase is handed. bench/pdk_call_bench.py runs it in-process through
dataplane.plugins.testing (Gantry loads such a file as Kong's Python plugin server would).

The timings go back as response headers, the only channel a kong-pdk plugin has besides its log.
"""

from __future__ import annotations

import timeit
from typing import Any

# The call timed, as a plugin writes it; the harness sends the request with `x: 1`.
STATEMENT = 'kong.request.get_header("x")'

Schema = (
    {"number": {"type": "integer", "default": 100_000}},  # calls per timed run
    {"repeat": {"type": "integer", "default": 7}},  # timed runs
)
version = "0.1.0"
priority = 1000


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def access(self, kong: Any) -> None:
        # A statement string, not a lambda: timeit compiles it into its loop, so no extra call
        # is counted per iteration.
        timer = timeit.Timer(STATEMENT, globals={"kong": kong})
        runs = timer.repeat(repeat=self.config["repeat"], number=self.config["number"])
        kong.response.set_header("x-bench-runs", ",".join(f"{run:.9f}" for run in runs))
        kong.response.set_header("x-bench-value", repr(kong.request.get_header("x")))


if __name__ == "__main__":
    from kong_pdk.cli import start_dedicated_server

    start_dedicated_server("pdk-timer", Plugin, version, priority, Schema)
