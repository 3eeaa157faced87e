"""The control plane's incremental config hash equals dataplane.declarative.config_hash
(Kong's algorithm), including sections that cross Kong's 1 MB buffer collapse, after
inserts, updates and deletes."""
from __future__ import annotations

import random
import uuid

from controlplane.cluster.hashing import IncrementalHasher
from dataplane.declarative import config_hash


def entity(rng: random.Random, i: int, big: bool) -> dict:
    return {"id": str(uuid.UUID(int=rng.getrandbits(128))), "name": f"e{i}", "n": i,
            "f": i / 3, "tags": ["t"] * rng.randint(0, 8), "none": None, "on": True,
            "blob": "z" * (rng.randint(0, 3000) if big else 3), "m": {"k": [1, 2, 3, 4, 5, 6]}}


def as_flat(config: dict[str, dict[str, dict]]) -> dict[str, list[dict]]:
    return {name: list(rows.values()) for name, rows in config.items()}


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
        for _ in range(5):
            name = rng.choice(["services", "routes", "consumers"])
            rows = config[name]
            if rows and rng.random() < 0.5:
                victim = rng.choice(sorted(rows))
                if rng.random() < 0.5:
                    del rows[victim]
                else:
                    rows[victim] = {**rows[victim], "name": "changed", "blob": "y" * 2500}
            else:
                new = entity(rng, 9999, True)
                rows[new["id"]] = new
            assert hasher.update(config, [name]) == config_hash(as_flat(config)), (counts, name)
