"""`Runtime.from_snapshot` against the runtime it serves rebuilds only the service targets that
changed, and ends up equal to a runtime compiled from scratch, change after change.

Each config version is written to its own LMDB environment (the version before it, then the
change as a control plane's delta or as a full config), and every writer is closed before
anything is read: a reader and an open writer must not share a process.
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dataplane import _core
from dataplane.declarative.hashing import config_hash
from dataplane.proxy import ProxySettings, Runtime
from dataplane.proxy.runtime import ServiceTarget
from dataplane.lmdb_cache import ConfigStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "declarative"
CA_PEM = (FIXTURES / "ca.pem").read_text()
OTHER_PEM = (FIXTURES / "leaf.pem").read_text()

Flat = dict[str, list[dict[str, Any]]]
SETTINGS = ProxySettings()


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def service(n: int, host: str, **fields: Any) -> dict[str, Any]:
    return {"id": uid(n), "name": f"s{n}", "protocol": "http", "host": host, "port": 80, "path": None,
            "enabled": True, "retries": 5, "tls_verify": None, "tls_verify_depth": None,
            "ca_certificates": None, **fields}


def target(n: int, upstream: int, address: str, weight: int = 100) -> dict[str, Any]:
    return {"id": uid(n), "target": address, "weight": weight, "upstream": {"id": uid(upstream)}, "created_at": n}


def base() -> Flat:
    return {
        "ca_certificates": [{"id": uid(900), "cert": CA_PEM}],
        "services": [
            service(1, "127.0.0.1"),
            service(2, "pool"),
            service(3, "pool2"),
            service(4, "secure.test", protocol="https", tls_verify=True, ca_certificates=[uid(900)]),
            service(5, "plain.test", protocol="https", tls_verify=False),
            service(6, "untouched.test"),
        ],
        "routes": [{"id": uid(100 + n), "paths": [f"/s{n}/"], "service": {"id": uid(n)}, "created_at": n}
                   for n in range(1, 7)],
        "upstreams": [{"id": uid(200), "name": "pool", "algorithm": "round-robin", "host_header": None},
                      {"id": uid(201), "name": "pool2", "algorithm": "round-robin", "host_header": None}],
        "targets": [target(300, 200, "127.0.0.1:9001"), target(302, 201, "127.0.0.1:9003")],
        "plugins": [],
    }


def find(flat: Flat, kind: str, n: int) -> dict[str, Any]:
    return next(e for e in flat[kind] if e["id"] == uid(n))


def remove(flat: Flat, kind: str, n: int) -> None:
    flat[kind] = [e for e in flat[kind] if e["id"] != uid(n)]


# Each change, in order, with the service numbers whose targets it must leave as they were.
CHANGES: list[tuple[str, Callable[[Flat], None], set[int]]] = [
    ("service added", lambda f: (f["services"].append(service(7, "127.0.0.2")),
                                 f["routes"].append({"id": uid(107), "paths": ["/s7/"], "service": {"id": uid(7)}})),
     {1, 2, 3, 4, 5, 6}),
    ("host and port", lambda f: find(f, "services", 1).update(host="127.0.0.3", port=8080), {2, 3, 4, 5, 6, 7}),
    ("protocol", lambda f: find(f, "services", 1).update(protocol="https"), {2, 3, 4, 5, 6, 7}),
    ("tls_verify and ca_certificates",
     lambda f: find(f, "services", 7).update(protocol="https", tls_verify=True, ca_certificates=[uid(900)],
                                             tls_verify_depth=3),
     {1, 2, 3, 4, 5, 6}),
    ("service moved onto an upstream", lambda f: find(f, "services", 1).update(host="pool"), {2, 3, 4, 5, 6, 7}),
    ("service deleted", lambda f: (remove(f, "services", 7), remove(f, "routes", 107)), {1, 2, 3, 4, 5, 6}),
    ("targets changed", lambda f: (find(f, "targets", 300).update(weight=10),
                                   f["targets"].append(target(301, 200, "127.0.0.1:9002"))),
     {3, 4, 5, 6}),
    ("host_header", lambda f: find(f, "upstreams", 200).update(host_header="backend.test"), {3, 4, 5, 6}),
    ("upstream deleted", lambda f: (remove(f, "upstreams", 201), remove(f, "targets", 302)), {1, 2, 4, 5, 6}),
    ("upstreams swap names", lambda f: (find(f, "upstreams", 200).update(name="pool2"),
                                        f["upstreams"].append({"id": uid(202), "name": "pool",
                                                               "algorithm": "round-robin", "host_header": "x"})),
     {4, 5, 6}),
    ("CA certificate changed", lambda f: find(f, "ca_certificates", 900).update(cert=OTHER_PEM), {1, 2, 3, 5, 6}),
    ("plugin added", lambda f: f["plugins"].append({"id": uid(400), "name": "cors", "config": {}}),
     {1, 2, 3, 4, 5, 6}),
]


def delta(old: Flat, new: Flat) -> tuple[Flat, dict[str, list[str]]]:
    upserts: Flat = {}
    deletes: dict[str, list[str]] = {}
    for kind in new.keys() | old.keys():
        before = {e["id"]: e for e in old.get(kind, [])}
        after = {e["id"]: e for e in new.get(kind, [])}
        if changed := [e for i, e in after.items() if before.get(i) != e]:
            upserts[kind] = changed
        if gone := [i for i in before if i not in after]:
            deletes[kind] = gone
    return upserts, deletes


def write_versions(tmp: Path, as_delta: bool) -> list[tuple[str, Path, set[int]]]:
    """One environment per version: (change, path, services left as they were)."""
    flat = base()
    path = tmp / "v1"
    store = ConfigStore(str(path), 16 << 20)
    store.apply(flat, *config_hash(flat), version=1)
    store.close()
    versions = [("base", path, set())]
    for version, (name, change, kept) in enumerate(CHANGES, start=2):
        new = copy.deepcopy(flat)
        change(new)
        path = tmp / f"v{version}"
        store = ConfigStore(str(path), 16 << 20)
        store.apply(flat, *config_hash(flat), version=version - 1)
        if as_delta:
            store.apply_delta(version - 1, version, *delta(flat, new), *config_hash(new))
        else:
            store.apply(new, *config_hash(new), version=version)
        store.close()
        versions.append((name, path, kept))
        flat = new
    return versions


def context_view(context: ssl.SSLContext | None) -> Any:
    if context is None:
        return None
    return (type(context).__name__, context.verify_mode, context.check_hostname,
            getattr(context, "verify_depth", None), context.get_ca_certs(binary_form=True))


def target_view(target: ServiceTarget) -> dict[str, Any]:
    view = {slot: getattr(target, slot) for slot in ServiceTarget.__slots__}
    balancer = view.pop("balancer")
    view["balancer"] = None if balancer is None else (balancer.name, balancer.algorithm, balancer.targets())
    view["ssl_context"] = context_view(view["ssl_context"])
    return view


@pytest.mark.parametrize("as_delta", [True, False], ids=["delta", "full config"])
def test_incremental_runtime_equals_a_fresh_one_after_each_change(tmp_path: Path, as_delta: bool) -> None:
    versions = write_versions(tmp_path, as_delta)
    previous_snapshot = None
    runtime = None
    for name, path, kept in versions:
        snapshot = _core.Store(str(path)).load(previous=previous_snapshot)
        incremental = Runtime.from_snapshot(snapshot, SETTINGS, runtime)
        fresh = Runtime.from_snapshot(_core.Store(str(path)).load(), SETTINGS)

        assert incremental.services.keys() == fresh.services.keys(), name
        for service_id, target in incremental.services.items():
            assert target_view(target) == target_view(fresh.services[service_id]), (name, service_id)
            # Never a stale balancer: the one this snapshot serves for the service's host.
            assert target.balancer is snapshot.balancers.get(target.host), (name, service_id)
        assert incremental.plugins == fresh.plugins, name
        assert incremental.router is snapshot.router
        if runtime is not None:
            for n in kept:
                assert incremental.services[uid(n)] is runtime.services[uid(n)], (name, n)
            # Services of one trust setting still share one context.
            contexts = {}
            for target in incremental.services.values():
                if target.ssl_context is not None:
                    key = (target.tls_verify, target.ca_ids, target.tls_verify_depth if target.tls_verify else None)
                    assert contexts.setdefault(key, target.ssl_context) is target.ssl_context, (name, key)
        previous_snapshot, runtime = snapshot, incremental


def test_a_change_outside_the_service_inputs_keeps_every_target(tmp_path: Path) -> None:
    flat = base()
    first, second = tmp_path / "a", tmp_path / "b"
    for path, version in ((first, 1), (second, 2)):
        store = ConfigStore(str(path), 16 << 20)
        store.apply(flat, *config_hash(flat), version=1)
        if version == 2:
            route = dict(flat["routes"][0], paths=["/moved/"])
            store.apply_delta(1, 2, {"routes": [route]}, {}, *config_hash(flat))
        store.close()
    before = _core.Store(str(first)).load()
    runtime = Runtime.from_snapshot(before, SETTINGS)
    after = Runtime.from_snapshot(_core.Store(str(second)).load(previous=before), SETTINGS, runtime)
    assert after.service_table is runtime.service_table
    assert after.plugins is runtime.plugins
