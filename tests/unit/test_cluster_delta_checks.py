"""A delta checked inside its write transaction by key lookups, against the stored config."""

import pytest

from dataplane import config_source
from dataplane.cluster.apply import ConfigApplier
from dataplane.declarative import DeclarativeConfigError, config_hash, parse_text
from dataplane.declarative.validate_flat import validate_delta
from dataplane.lmdb_cache import ConfigStore

MAP_SIZE = 16 << 20
S1, S2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
R1, R2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"
U1, T1 = "00000000-0000-4000-8000-0000000000b1", "00000000-0000-4000-8000-0000000000c1"


# Complete entities, every default filled, as a control plane sends them.
TEMPLATE = parse_text("""
_format_version: "3.0"
services:
- name: template
  url: http://example.com/
  routes:
  - name: template
    paths: [/template]
upstreams:
- name: template
  targets:
  - target: 10.0.0.1:80
""")


def service(sid, name, **kw):
    return {**TEMPLATE["services"][0], "id": sid, "name": name, **kw}


def route(rid, sid, path, **kw):
    return {**TEMPLATE["routes"][0], "id": rid, "name": f"r-{rid[-2:]}", "paths": [path], "service": {"id": sid}, **kw}


@pytest.fixture
def store(tmp_path):
    s = ConfigStore(str(tmp_path / "lmdb"), MAP_SIZE)
    flat = {"services": [service(S1, "one")], "routes": [route(R1, S1, "/one")]}
    s.apply(flat, config_hash(flat)[0], config_hash(flat)[1], version=1)
    yield s
    s.close()


def apply(store, upserts, deletes=None):
    def check(stored):
        validate_delta(upserts, deletes or {}, stored)
        config_source.check_delta_compiles(upserts, deletes or {}, stored)
    return store.apply_delta(store.current()[0], store.current()[0] + 1, upserts, deletes or {}, "h", {}, check=check)


def rejected(store, upserts, deletes=None) -> str:
    before = store.load()
    with pytest.raises((DeclarativeConfigError, config_source.ConfigRejected)) as info:
        apply(store, upserts, deletes)
    assert store.load() == before  # nothing written
    return str(info.value)


def test_valid_delta_is_written(store):
    apply(store, {"services": [service(S2, "two")], "routes": [route(R2, S2, "/two")]})
    assert {r["id"] for r in store.load()[2]["routes"]} == {R1, R2}


def test_schema_and_dangling_reference_of_an_upsert(store):
    text = rejected(store, {"routes": [route(R2, S2, "/two", protocols=["gopher"])]})
    assert "protocols" in text and f"invalid reference 'service: {S2}'" in text


def test_deleting_what_a_stored_entity_references(store):
    assert f"invalid reference 'service: {S1}'" in rejected(store, {}, {"services": [S1]})
    apply(store, {}, {"services": [S1], "routes": [R1]})  # the route goes with it
    assert store.load()[2] == {}


def test_moving_the_referrer_away_allows_the_delete(store):
    apply(store, {"services": [service(S2, "two")], "routes": [route(R1, S2, "/one")]}, {"services": [S1]})
    assert [s["id"] for s in store.load()[2]["services"]] == [S2]
    # the index followed the route: S2 now cannot go alone, and S1 is unknown
    assert "invalid reference" in rejected(store, {}, {"services": [S2]})


def test_unique_fields_against_stored_and_within_the_delta(store):
    assert "entity with name set to 'one'" in rejected(store, {"services": [service(S2, "one")]})
    assert "entity with name set to 'x'" in rejected(store, {"services": [service(S2, "x"), service(
        "00000000-0000-4000-8000-000000000003", "x")]})
    apply(store, {"services": [service(S1, "renamed"), service(S2, "one")]})  # a name handed over
    apply(store, {"services": [service(S1, "one"), service(S2, "renamed")]})  # and swapped back
    assert "name set to 'one'" in rejected(store, {"services": [service("00000000-0000-4000-8000-000000000009", "one")]})
    apply(store, {}, {"services": [S2]})
    apply(store, {"services": [service(S2, "renamed")]})  # a deleted owner frees its value


def test_compile_check_covers_upserts_and_routes_a_service_enables(store):
    assert "invalid regex" in rejected(store, {"routes": [route(R2, S1, "~/(?<=a)b")]})
    apply(store, {"services": [service(S2, "two", enabled=False)], "routes": [route(R2, S2, "~/(?<=a)b")]})
    assert "invalid regex" in rejected(store, {"services": [service(S2, "two", enabled=True)]})


def test_balancer_compile_check_takes_stored_targets(store):
    upstream = {**TEMPLATE["upstreams"][0], "id": U1, "name": "up"}
    apply(store, {"upstreams": [upstream], "targets": [{**TEMPLATE["targets"][0], "id": T1, "upstream": {"id": U1}}]})
    assert "invalid reference" in rejected(store, {}, {"upstreams": [U1]})
    assert "hash_on" in rejected(store, {"upstreams": [{**upstream, "hash_on": "header"}]})


def test_stale_base_is_checked_before_anything(store):
    from dataplane.lmdb_cache import StaleBaseError
    with pytest.raises(StaleBaseError):
        store.apply_delta(5, 6, {}, {}, "h", {}, check=lambda stored: pytest.fail("checked a stale delta"))


def test_applier_acks_the_error_and_keeps_the_config(store):
    import asyncio
    import gzip

    import orjson

    from dataplane.cluster.protocol import cluster_pb2
    applied = []
    applier = ConfigApplier(store, lambda v, h: applied.append(v))
    payload = gzip.compress(orjson.dumps({"upserts": {}, "deletes": {"services": [S1]}}))
    msg = cluster_pb2.Delta(from_version=1, to_version=2, hash="0" * 32, encoding="gzip+json", payload=payload)
    outcome = asyncio.run(applier.delta(msg))
    assert not outcome.applied and "invalid reference" in outcome.error
    assert store.current()[0] == 1 and applied == []
