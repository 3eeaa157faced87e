"""Modules generated from proto/cluster.proto by `make proto`; do not edit by hand."""
