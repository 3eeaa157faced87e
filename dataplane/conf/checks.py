"""Rules that tie several honoured keys together (Kong's wording)."""

from collections.abc import Callable, Mapping
from typing import Any


def cross_check(values: Mapping[str, Any], source: Callable[[str], str]) -> list[str]:
    """Problems between keys, each as ``<source>: <key>: <problem>``; keys that failed to
    parse are absent from ``values`` and their rules skipped."""
    errors: list[str] = []

    def fail(key: str, problem: str) -> None:
        errors.append(f"{source(key)}: {key}: {problem}")

    role = values.get("role")
    database = values.get("database")
    if role == "control_plane":
        if database == "off":
            fail("database", 'in-memory storage can not be used when role = "control_plane"')
        for key in ("admin_listen", "cluster_listen"):
            if values.get(key) == ():
                fail(key, f'{key} must be specified when role = "control_plane"')
    elif role == "data_plane":
        if database not in (None, "off"):
            fail("database", 'only in-memory storage can be used when role = "data_plane" (set database = off)')
        if values.get("proxy_listen") == ():
            fail("proxy_listen", 'proxy_listen must be specified when role = "data_plane"')
    if role in ("control_plane", "data_plane") and (
        values.get("cluster_cert") is None or values.get("cluster_cert_key") is None
    ):
        fail("cluster_cert", "cluster certificate and key must be provided to use Hybrid mode")
    if role == "control_plane":
        if values.get("cluster_mtls") == "pki" and values.get("cluster_ca_cert") is None:
            fail("cluster_ca_cert", 'cluster_ca_cert must be specified when cluster_mtls = "pki"')
        if values.get("cluster_dp_labels"):
            fail("cluster_dp_labels", 'cluster_dp_labels can only be set when role = "data_plane"')
    certs, keys = values.get("ssl_cert"), values.get("ssl_cert_key")
    if certs is not None and keys is not None and len(certs) != len(keys):
        fail("ssl_cert_key", "ssl_cert_key must be specified with ssl_cert, one key per certificate")
    return errors
