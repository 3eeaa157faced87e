"""The control plane's incremental config hash equals dataplane.declarative.config_hash
(Kong's algorithm), including sections that cross Kong's 1 MB buffer collapse, after
inserts, updates and deletes, down to a type's last entity."""
from __future__ import annotations

import random
import uuid

import pytest

from controlplane.cluster import hashsection
from controlplane.cluster.hashing import IncrementalHasher
from dataplane.declarative import config_hash

TYPES = ("services", "routes", "plugins", "consumers", "certificates", "snis")


def entity(rng: random.Random, i: int, big: bool) -> dict:
    return {"id": str(uuid.UUID(int=rng.getrandbits(128))), "name": f"e{i}", "n": i,
            "f": i / 3, "tags": ["t"] * rng.randint(0, 8), "none": None, "on": True,
            "blob": "z" * (rng.randint(0, 3000) if big else 3), "m": {"k": [1, 2, 3, 4, 5, 6]}}


def as_flat(config: dict[str, dict[str, dict]]) -> dict[str, list[dict]]:
    return {name: list(rows.values()) for name, rows in config.items()}


def change(rng: random.Random, config: dict[str, dict[str, dict]], name: str,
           serial: int) -> tuple[str, str]:
    """Insert, replace or delete one entity of `name`; the (type, id) changed."""
    rows = config[name]
    if rows and rng.random() < 0.6:
        victim = rng.choice(sorted(rows))
        if rng.random() < 0.5:
            del rows[victim]
        else:
            rows[victim] = {**rows[victim], "name": "changed", "blob": "y" * rng.randint(0, 2500)}
        return name, victim
    new = entity(rng, serial, rng.random() < 0.5)
    rows[new["id"]] = new
    return name, new["id"]


def test_equal_to_kongs_hash_through_changes():
    rng = random.Random(7)
    for counts in ((0, 0, 0), (1, 5, 6), (6, 2, 0), (2000, 300, 700)):
        config = {
            "services": {e["id"]: e for e in (entity(rng, i, True) for i in range(counts[0]))},
            "routes": {e["id"]: e for e in (entity(rng, i, False) for i in range(counts[1]))},
            "consumers": {e["id"]: e for e in (entity(rng, i, True) for i in range(counts[2]))},
            "plugins": {},
        }
        hasher = IncrementalHasher()
        assert hasher.update(config) == config_hash(as_flat(config))
        for serial in range(10):
            name = rng.choice(["services", "routes", "consumers"])
            changed = [change(rng, config, name, 10_000 + serial)]
            assert hasher.update(config, changed) == config_hash(as_flat(config)), (counts, name)


@pytest.mark.slow
def test_series_of_changes_equals_a_hash_from_scratch(monkeypatch):
    # Small blocks so that blocks split, empty and go in a series this short.
    monkeypatch.setattr(hashsection, "BLOCK", 4)
    rng = random.Random(11)
    config: dict[str, dict[str, dict]] = {name: {} for name in TYPES}
    for name, count in (("services", 600), ("routes", 40), ("consumers", 700), ("snis", 3)):
        config[name] = {e["id"]: e for e in (entity(rng, i, True) for i in range(count))}
    hasher = IncrementalHasher()
    hasher.update(config)
    for step in range(120):
        name = rng.choice(TYPES)
        changed = [change(rng, config, name, step) for _ in range(rng.randint(1, 3))]
        expected = config_hash(as_flat(config))
        assert hasher.update(config, changed) == expected, step
        assert IncrementalHasher().update(config) == expected, step


def test_deleting_every_entity_of_a_type_one_by_one():
    rng = random.Random(3)
    config = {name: {e["id"]: e for e in (entity(rng, i, True) for i in range(12))}
              for name in ("routes", "consumers", "snis")}
    hasher = IncrementalHasher()
    hasher.update(config)
    for name in ("routes", "snis", "consumers"):
        for id in sorted(config[name], key=lambda _: rng.random()):
            del config[name][id]
            assert hasher.update(config, [(name, id)]) == config_hash(as_flat(config)), name
    assert hasher.update(config, []) == config_hash(as_flat(config))
    again = entity(rng, 0, False)  # a type coming back after its last entity went
    config["consumers"][again["id"]] = again
    assert hasher.update(config, [("consumers", again["id"])]) == config_hash(as_flat(config))
