"""Full sync of a large configuration (default 50k services + 50k routes: 100k entities) to a
fresh data plane, with the processes and the byte-counting relay of bench/hybrid_propagation.py.

    .venv/bin/python -m bench.hybrid_full_sync [--services 50000]

Measured:
- import + first data plane: from the start of `controlplane config db_import` to a data
  plane connected before it (holding one service) routing the last route;
- full sync: a fresh data plane joins; from the first byte the control plane sends it to its
  routing the last route, and the TLS bytes the relay counted down to it;
- the payload: compressed and JSON bytes of the full config, as the fresh data plane logs them.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from bench.hybrid_propagation import Bench

APPLIED = re.compile(r"applied \(hash \w+; (.*); ([\d,]+) bytes compressed, ([\d,]+) bytes of JSON\)")


def payload_sizes(error_log: str) -> tuple[str, int, int]:
    """(entity counts, compressed bytes, JSON bytes) of the last full config a data plane logged."""
    found = APPLIED.findall(error_log)
    if not found:
        raise RuntimeError("the data plane logged no full configuration applied")
    counts, compressed, json = found[-1]
    return counts, int(compressed.replace(",", "")), int(json.replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services", type=int, default=50_000, help="services, each with one route (default 50000: 100k entities)"
    )
    args = parser.parse_args()
    if args.services < 1:
        parser.error("--services must be at least 1")
    with tempfile.TemporaryDirectory(prefix="gantry-full-sync-bench-") as tmp:
        bench = Bench(Path(tmp), dps=1, writes=0)
        try:
            # A connected data plane tells when the control plane serves the import; it is
            # ready once it serves something.
            code, body = bench.cp.admin(
                "POST", "/services", {"name": "bench", "url": f"http://127.0.0.1:{bench.upstream.port}"}
            )
            assert code == 201, body
            bench.start_dps(1)
            started = time.monotonic()
            bench.load_routes(args.services)
            loaded = time.monotonic() - started
            fresh = bench.tmp / f"dp{len(bench.dps)}"  # where start_dps puts the next one
            sync_seconds, sync_bytes = bench.full_sync(args.services)
            counts, compressed, json = payload_sizes((fresh / "prefix" / "logs" / "error.log").read_text())
        finally:
            bench.stop()
    print(f"import + first data plane routing the last route: {loaded:.1f} s")
    print(
        f"full sync of {counts} to a fresh data plane: {sync_seconds * 1000:.0f} ms, "
        f"{sync_bytes:,} wire bytes (payload {compressed:,} bytes compressed, {json:,} bytes of JSON)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
