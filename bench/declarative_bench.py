"""Declarative parsing and flat-config validation of a large kong.yml: N services, each with one
route and one plugin (3N entities), as `controlplane config db_import` and a data plane
receiving a full config from a control plane see them.

    .venv/bin/python bench/declarative_bench.py [--services N] [--repeat R] [--profile]

Prints the best of R runs of each stage: YAML load alone, `parse_file` (load + flatten +
defaults + validation) and `validate_flat` on its output. `--profile` prints the top of a
cProfile of one `parse_file` and one `validate_flat` instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import yaml

from bench.cp_import_bench import write_config
from dataplane.declarative import parse_file, validate_flat
from dataplane.declarative.gcpause import gc_paused
from dataplane.declarative.loader import load


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def load_only(text: bytes, path: str) -> None:
    with gc_paused():  # as parse_file loads
        load(text, path)


def profile(label: str, fn: Callable[[], object]) -> None:
    prof = cProfile.Profile()
    prof.runcall(fn)
    print(f"--- {label}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kong.yml")
        write_config(path, args.services)
        with open(path, "rb") as f:
            text = f.read()
        flat = parse_file(path)
        if args.profile:
            profile("parse_file", lambda: parse_file(path))
            profile("validate_flat", lambda: validate_flat(flat))
            return
        loaded = best_of(args.repeat, lambda: load_only(text, path))
        parsed = best_of(args.repeat, lambda: parse_file(path))
        validated = best_of(args.repeat, lambda: validate_flat(flat))
    entities = sum(len(items) for items in flat.values())
    print(
        f"{args.services} services, {entities} entities, libyaml "
        f"{'yes' if yaml.__with_libyaml__ else 'NO'}; best of {args.repeat}:"
    )
    print(f"  yaml load      {loaded:6.2f} s")
    print(f"  parse_file     {parsed:6.2f} s  (includes the load)")
    print(f"  validate_flat  {validated:6.2f} s")


if __name__ == "__main__":
    main()
