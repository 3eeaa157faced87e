"""LMDB config cache: `dataplane.lmdb_cache.ConfigStore` writes, `dataplane._core.Store` reads.

Reads run in child processes: a reader and a writer must never share a process (their LMDB
copies would release each other's fcntl locks), as in production where workers read.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import lmdb
import orjson
import pytest

from dataplane.lmdb_cache import ConfigStore, StoreFullError

MAP_SIZE = 64 << 20

READ_SCRIPT = textwrap.dedent("""
    import json, sys
    from dataplane import _core
    try:
        store = _core.Store(sys.argv[1])
        snap = store.load()
    except _core.StoreError as err:
        print(json.dumps({"error": str(err)}))
        raise SystemExit(0)
    types = ["ca_certificates", "certificates", "snis", "services", "routes", "upstreams", "targets",
             "consumers", "keyauth_credentials", "plugins", "markers"]
    print(json.dumps({
        "meta": store.meta(),
        "version": snap.version,
        "hash": snap.hash,
        "hashes": snap.hashes,
        "routes": len(snap.router),
        "balancers": {name: b.targets() for name, b in snap.balancers.items()},
        "entities": {t: [json.loads(raw) for raw in snap.entities(t)] for t in types},
    }))
""")

# Loads in a loop for a while; every snapshot must be one whole config (see `generation`).
WATCH_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from dataplane import _core
    store = _core.Store(sys.argv[1])
    deadline = time.monotonic() + float(sys.argv[2])
    versions, loads, torn = set(), 0, []
    while time.monotonic() < deadline:
        snap = store.load()
        marker = json.loads(snap.entities("markers")[0])
        plugins = [json.loads(raw) for raw in snap.entities("plugins")]
        gens = {p["config"]["gen"] for p in plugins}
        if len(plugins) != marker["count"] or gens != {marker["gen"]}:
            torn.append([snap.version, len(plugins), marker["count"], sorted(gens)])
        versions.add(snap.version)
        loads += 1
    print(json.dumps({"loads": loads, "versions": len(versions), "torn": torn[:5]}))
""")

# Applies ever larger configs until killed; prints each committed version.
WRITE_LOOP_SCRIPT = textwrap.dedent("""
    import sys
    from dataplane.lmdb_cache import ConfigStore
    sys.path.insert(0, sys.argv[2])
    from test_store import generation_config
    store = ConfigStore(sys.argv[1], 512 << 20)
    gen = 0
    while True:
        gen += 1
        version = store.apply(generation_config(gen, 20000 + gen), "%032x" % gen, {})
        print(version, flush=True)
""")


def run(script: str, *args: str, timeout: float = 60) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=timeout, check=True)
    return json.loads(out.stdout)


def read(path) -> dict:
    return run(READ_SCRIPT, str(path))


def generation_config(gen: int, count: int) -> dict[str, list[dict]]:
    """`count` plugins stamped with `gen`, and a marker recording both."""
    plugins = [{"id": f"{gen:06d}-{i:06d}", "name": "cors", "config": {"gen": gen, "pad": "x" * 64}}
               for i in range(count)]
    return {"plugins": plugins, "markers": [{"id": "m", "gen": gen, "count": count}]}


def full_config() -> dict[str, list[dict]]:
    return {
        "ca_certificates": [{"id": "ca1", "cert": "-----BEGIN CERTIFICATE-----"}],
        "certificates": [{"id": "c1", "cert": "pem", "key": "pem"}],
        "snis": [{"id": "n1", "name": "example.com", "certificate": {"id": "c1"}}],
        "services": [{"id": "s1", "name": "svc", "protocol": "http", "host": "backend", "port": 80,
                      "path": None, "enabled": True}],
        "routes": [{"id": "r1", "name": "root", "paths": ["/"], "service": {"id": "s1"}, "created_at": 1}],
        "upstreams": [{"id": "u1", "name": "backend", "algorithm": "round-robin"}],
        "targets": [{"id": "t1", "target": "10.0.0.1:80", "weight": 100, "upstream": {"id": "u1"}},
                    {"id": "t2", "target": "[::1]", "weight": 0, "upstream": {"id": "u1"}}],
        "consumers": [{"id": "k1", "username": "bob"}],
        "keyauth_credentials": [{"id": "a1", "key": "secret", "consumer": {"id": "k1"}}],
        "plugins": [{"id": "p1", "name": "cors", "config": {"origins": ["*"]}}],
    }


HASHES = {"routes": "1" * 32, "services": "2" * 32, "plugins": "3" * 32, "upstreams": "4" * 32,
          "targets": "5" * 32, "rest": "6" * 32}


def test_round_trip_of_every_entity_type(tmp_path):
    path = str(tmp_path / "dbless.lmdb")
    store = ConfigStore(path, MAP_SIZE)
    config = full_config()
    assert store.apply(config, "a" * 32, HASHES) == 1
    store.close()

    got = read(path)
    assert got["meta"] == [1, "a" * 32]
    assert (got["version"], got["hash"], got["hashes"]) == (1, "a" * 32, HASHES)
    for entity_type, entities in config.items():
        assert got["entities"][entity_type] == entities, entity_type
    assert got["routes"] == 1
    assert got["balancers"] == {"backend": [["10.0.0.1", 80, 100], ["::1", 8000, 0]]}


def test_versions_increase_and_current_reports_the_last(tmp_path):
    path = str(tmp_path / "dbless.lmdb")
    store = ConfigStore(path, MAP_SIZE)
    assert store.current() is None
    assert store.apply(full_config(), "a" * 32, HASHES) == 1
    assert store.apply({"services": full_config()["services"]}, "b" * 32, HASHES) == 2
    assert store.current() == (2, "b" * 32)
    store.close()

    reopened = ConfigStore(path, MAP_SIZE)
    assert reopened.current() == (2, "b" * 32)
    reopened.close()
    got = read(path)
    assert got["version"] == 2
    assert got["entities"]["plugins"] == [] and len(got["entities"]["services"]) == 1


def test_reader_without_a_config(tmp_path):
    path = tmp_path / "dbless.lmdb"
    assert "no configuration stored" in read(path)["error"]
    ConfigStore(str(path), MAP_SIZE).close()
    assert "no configuration stored" in read(path)["error"]


def test_map_full_keeps_the_previous_config(tmp_path):
    path = str(tmp_path / "dbless.lmdb")
    store = ConfigStore(path, 1 << 20)
    store.apply(generation_config(1, 10), "1" * 32, {})
    with pytest.raises(StoreFullError, match="lmdb_map_size") as info:
        store.apply(generation_config(2, 20000), "2" * 32, {})
    assert "1.0 MiB" in str(info.value)
    assert store.current() == (1, "1" * 32)
    store.close()

    got = read(path)
    assert got["version"] == 1
    assert len(got["entities"]["plugins"]) == got["entities"]["markers"][0]["count"] == 10


def test_other_format_is_wiped_with_a_warning(tmp_path, caplog):
    path = str(tmp_path / "dbless.lmdb")
    store = ConfigStore(path, MAP_SIZE)
    store.apply(full_config(), "a" * 32, HASHES)
    store.close()
    env = lmdb.open(path, max_dbs=4, max_readers=256, map_size=MAP_SIZE)
    with env.begin(write=True) as txn:
        txn.put(b"format", b"kong/3.9", db=env.open_db(b"meta", txn=txn))
    env.close()
    assert "incompatible cache format" in read(path)["error"]

    with caplog.at_level(logging.WARNING, logger="dataplane.lmdb_cache.lmdb_writer"):
        store = ConfigStore(path, MAP_SIZE)
    assert "wiping" in caplog.text
    assert store.current() is None
    assert store.apply(full_config(), "c" * 32, HASHES) == 1
    store.close()
    assert read(path)["version"] == 1


@pytest.mark.slow  # writes for 4.5 s under a reader
def test_concurrent_reader_sees_only_whole_configs(tmp_path):
    path = str(tmp_path / "dbless.lmdb")
    store = ConfigStore(path, 256 << 20)
    store.apply(generation_config(1, 1), "0" * 32, {})
    watcher = subprocess.Popen([sys.executable, "-c", WATCH_SCRIPT, path, "4"], stdout=subprocess.PIPE, text=True)
    gen, deadline = 1, time.monotonic() + 4.5
    while time.monotonic() < deadline and watcher.poll() is None:
        gen += 1
        store.apply(generation_config(gen, random.randint(1, 3000)), f"{gen:032x}", {})
    out, _ = watcher.communicate(timeout=30)
    store.close()
    result = json.loads(out)
    assert result["torn"] == []
    assert result["loads"] > 10 and result["versions"] > 2, result


@pytest.mark.slow
def test_kill_during_apply_leaves_the_last_committed_config(tmp_path):
    path = str(tmp_path / "dbless.lmdb")
    here = os.path.dirname(__file__)
    writer = subprocess.Popen([sys.executable, "-c", WRITE_LOOP_SCRIPT, path, here],
                              stdout=subprocess.PIPE, text=True)
    try:
        first = writer.stdout.readline()
        assert first.strip() == "1", first
        time.sleep(random.uniform(0.05, 1.5))  # the point: a kill at a random moment of the writes
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)

    got = read(path)
    marker = got["entities"]["markers"][0]
    plugins = got["entities"]["plugins"]
    assert got["version"] == marker["gen"] >= 1
    assert len(plugins) == marker["count"] == 20000 + marker["gen"]
    assert {p["config"]["gen"] for p in plugins} == {marker["gen"]}

    # The writer's lock died with it: a new writer carries on from the committed version.
    store = ConfigStore(path, 512 << 20)
    assert store.apply(generation_config(99, 5), "9" * 32, {}) == got["version"] + 1
    store.close()
