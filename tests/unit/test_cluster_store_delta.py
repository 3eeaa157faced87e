"""ConfigStore with a control plane's versions: apply(version=...) and apply_delta."""

import orjson
import pytest

from dataplane.lmdb_cache import ConfigStore, StaleBaseError

MAP_SIZE = 16 << 20
S1, S2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
R1, R2 = "00000000-0000-4000-8000-0000000000a1", "00000000-0000-4000-8000-0000000000a2"


@pytest.fixture
def store(tmp_path):
    s = ConfigStore(str(tmp_path / "lmdb"), MAP_SIZE)
    yield s
    s.close()


def base():
    return {"services": [{"id": S1, "name": "one"}],
            "routes": [{"id": R1, "service": {"id": S1}}]}


def test_apply_stores_the_given_version_even_a_lower_one(store):
    assert store.apply(base(), "h1", {"routes": "x"}, version=40) == 40
    assert store.current() == (40, "h1")
    assert store.apply(base(), "h2", {}, version=3) == 3  # a control plane with a rebuilt database
    assert store.current() == (3, "h2")
    assert store.apply(base(), "h3", {}) == 4  # without a version: the previous one plus one


def test_delta_upserts_and_deletes_in_one_transaction(store):
    store.apply(base(), "h1", {}, version=7)
    upserts = {"services": [{"id": S1, "name": "renamed"}, {"id": S2, "name": "two"}],
               "routes": [{"id": R2, "service": {"id": S2}}]}
    assert store.apply_delta(7, 9, upserts, {"routes": [R1]}, "h9", {"routes": "r9"}) == 9
    version, digest, flat = store.load()
    assert (version, digest) == (9, "h9")
    assert flat["services"] == [{"id": S1, "name": "renamed"}, {"id": S2, "name": "two"}]
    assert flat["routes"] == [{"id": R2, "service": {"id": S2}}]


def test_delta_on_another_version_is_refused_and_writes_nothing(store):
    store.apply(base(), "h1", {}, version=7)
    with pytest.raises(StaleBaseError) as info:
        store.apply_delta(6, 8, {"services": [{"id": S2, "name": "two"}]}, {"routes": [R1]}, "h8", {})
    assert (info.value.expected, info.value.stored) == (6, 7)
    assert "version 7 is stored" in str(info.value)
    assert store.load() == (7, "h1", base())


def test_delta_on_an_empty_store_is_refused(store):
    with pytest.raises(StaleBaseError) as info:
        store.apply_delta(0, 1, {}, {}, "h", {})
    assert info.value.stored is None
    assert store.load() is None


def test_deleting_what_is_not_there_is_harmless(store):
    store.apply(base(), "h1", {}, version=1)
    store.apply_delta(1, 2, {}, {"routes": [R2], "plugins": [R1]}, "h2", {})
    assert store.load() == (2, "h2", base())


def test_a_delta_notes_what_it_changed_and_a_full_config_clears_the_note(store):
    def note():
        with store._env.begin() as txn:
            raw = txn.get(b"delta", db=store._meta)
        return None if raw is None else orjson.loads(raw)

    store.apply(base(), "h1", {}, version=7)
    assert note() is None
    store.apply_delta(7, 8, {"routes": [{"id": R2, "service": {"id": S1}}]}, {"routes": [R1]}, "h8", {})
    # Sorted keys: what the Rust reader reads alone when it serves exactly version 7, hash h1.
    assert note() == {"from_version": 7, "from_hash": "h1", "keys": [f"routes|{R1}", f"routes|{R2}"]}
    store.apply(base(), "h9", {}, version=9)
    assert note() is None
