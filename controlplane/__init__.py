"""Gantry's control plane: the PostgreSQL store, the Admin API and the CP side of the
cluster link. It may import `dataplane` (schemas, declarative format); never the reverse."""
