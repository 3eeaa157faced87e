# The two set-up commands are `make run` and `make test`; both build what they need first.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.gantry-built
SOURCES := $(shell find rust -name '*.rs') Cargo.toml Cargo.lock pyproject.toml

.PHONY: all build run test test-rust test-python test-unit test-deps bench clean proto

all: build

$(PY):
	./scripts/bootstrap.sh
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet maturin==1.16.0

# The native module in release mode, the package installed editable, runtime and test deps.
$(STAMP): $(PY) $(SOURCES)
	$(VENV)/bin/maturin develop --release --extras test
	touch $(STAMP)

build: $(STAMP)

run: build
	$(PY) -m demo.run

# Lint first: a change that fails a lint gate fails CI before the long test runs.
test: build lint test-rust test-python

test-rust:
	cargo test --quiet

.PHONY: lint lint-python lint-rust stubtest

# Every lint gate: Python (lint-python), Rust (lint-rust) and the native module's stub (stubtest).
lint: lint-python lint-rust stubtest

# What ruff checks and formats; tests/ joins the list once its restructuring has landed. mypy
# reads its files from pyproject.toml ([tool.mypy] files).
PY_LINT_PATHS := dataplane controlplane bench demo

lint-python: build
	$(VENV)/bin/ruff check $(PY_LINT_PATHS)
	$(VENV)/bin/ruff format --check $(PY_LINT_PATHS)
	$(VENV)/bin/mypy

# Formatting (the crate, and fuzz/ in its own workspace) and clippy with and without the pyo3
# binding, every warning an error.
lint-rust:
	cargo fmt --check
	cargo fmt --check --manifest-path fuzz/Cargo.toml
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --all-features -- -D warnings

# dataplane/_core.pyi against the module just built: a name, signature or default on one side
# only fails.
stubtest: build
	$(PY) -m mypy.stubtest dataplane._core

# Servers the integration tests start themselves (redis-server for rate-limiting's redis
# policy), installed from Debian's packages where missing.
test-deps:
	./scripts/bootstrap.sh redis-server

test-python: build test-deps
	$(VENV)/bin/pytest -q

# The fast part of the Python suite, for a quick loop while developing: under a minute on two
# cores (no PostgreSQL, no real gateway processes, nothing marked slow). `make test` still runs
# everything.
test-unit: build
	$(VENV)/bin/pytest -q -m "not slow and not postgres"

bench: build
	./bench/run.sh

clean:
	rm -rf $(VENV) target servroot

# Regenerate the gRPC modules from proto/cluster.proto (they are committed; grpcio-tools is a
# test extra). protoc writes a top-level import; rewrite it to the package path.
proto: $(PY)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=dataplane/cluster/protocol \
		--grpc_python_out=dataplane/cluster/protocol --pyi_out=dataplane/cluster/protocol proto/cluster.proto
	sed -i 's/^import cluster_pb2 as/from dataplane.cluster.protocol import cluster_pb2 as/' \
		dataplane/cluster/protocol/cluster_pb2_grpc.py
