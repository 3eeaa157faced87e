"""Consumer groups in a kong.yml: decK's forms, the flat form an export writes, nesting,
group-scoped plugins, ids, and what is refused."""
from __future__ import annotations

import uuid

import pytest

from dataplane.declarative import DeclarativeConfigError, parse_text, validate_flat
from dataplane.declarative.ids import entity_uuid
from dataplane.schema.consumer_groups import membership_id

PLUGINS = {"response-transformer", "key-auth"}

DECK = """
_format_version: "3.0"
consumers:
- username: alice
  groups:
  - name: gold
- username: carol
consumer_groups:
- name: gold
  tags: [tier]
  plugins:
  - name: response-transformer
  consumers:
  - username: bob
  - username: alice
- name: silver
consumer_group_consumers:
- consumer_group: silver
  consumer: carol
plugins:
- name: response-transformer
  consumer_group: silver
- name: response-transformer
"""


def parse(text: str):
    return parse_text(text, plugins=PLUGINS)


def ids_of(flat, entity_type, key="name"):
    return {e[key]: e["id"] for e in flat[entity_type]}


def pairs(flat):
    groups = {v: k for k, v in ids_of(flat, "consumer_groups").items()}
    consumers = {v: k for k, v in ids_of(flat, "consumers", "username").items()}
    return sorted((groups[m["consumer_group"]["id"]], consumers[m["consumer"]["id"]])
                  for m in flat["consumer_group_consumers"])


def test_decks_forms_and_the_flat_form():
    flat = parse(DECK)
    # bob is declared by the group's consumer list, as decK does
    assert sorted(ids_of(flat, "consumers", "username")) == ["alice", "bob", "carol"]
    # alice-gold, declared from both sides, is one membership
    assert pairs(flat) == [("gold", "alice"), ("gold", "bob"), ("silver", "carol")]
    gold = next(g for g in flat["consumer_groups"] if g["name"] == "gold")
    assert set(gold) == {"id", "created_at", "updated_at", "name", "tags"} and gold["tags"] == ["tier"]
    assert gold["id"] == entity_uuid("consumer_groups", "gold")
    for m in flat["consumer_group_consumers"]:
        assert set(m) == {"id", "created_at", "consumer_group", "consumer"}
        assert m["id"] == membership_id(m["consumer_group"]["id"], m["consumer"]["id"])
    scopes = sorted(((p["consumer_group"] or {}).get("id") or "") for p in flat["plugins"])
    groups = ids_of(flat, "consumer_groups")
    assert scopes == sorted(["", groups["gold"], groups["silver"]])
    validate_flat(flat, plugins=PLUGINS)  # what a control plane would send


def test_ids_are_stable_and_plugins_without_a_group_keep_kongs_ids():
    assert parse(DECK) == parse(DECK)
    ns = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")
    plugin_ns = uuid.uuid5(ns, "plugins")
    flat = parse(DECK)
    glob = next(p for p in flat["plugins"] if p["consumer_group"] is None)
    assert glob["id"] == str(uuid.uuid5(plugin_ns, "plugins:*:response-transformer:::"))
    scoped = [p["id"] for p in flat["plugins"] if p["consumer_group"] is not None]
    assert len(set(scoped)) == 2 and glob["id"] not in scoped


def test_nested_memberships_name_the_other_side_by_id_or_name():
    flat = parse("""
_format_version: "3.0"
consumers:
- username: dave
  id: 0b1f7f0e-5a4e-4a39-9d55-57a2a5a8f6a1
  consumer_group_consumers:
  - consumer_group: g1
consumer_groups:
- name: g1
- name: g2
  id: 6f2c2f54-5d7a-4b0e-a1a7-5b8b9f0c9a11
  consumer_group_consumers:
  - consumer: 0b1f7f0e-5a4e-4a39-9d55-57a2a5a8f6a1
""")
    assert pairs(flat) == [("g1", "dave"), ("g2", "dave")]


def test_an_export_shaped_file_reloads_to_the_same_config():
    flat = parse(DECK)
    exported = {
        "_format_version": "3.0",
        "_transform": False,
        "consumers": flat["consumers"],
        "consumer_groups": flat["consumer_groups"],
        "consumer_group_consumers": [
            {**m, "consumer_group": m["consumer_group"]["id"], "consumer": m["consumer"]["id"]}
            for m in flat["consumer_group_consumers"]
        ],
        "plugins": [{**p, "consumer_group": (p["consumer_group"] or {}).get("id")} for p in flat["plugins"]],
    }
    import yaml

    again = parse(yaml.safe_dump(exported))
    assert {k: v for k, v in again.items() if v} == {k: v for k, v in flat.items() if v}


def test_a_membership_without_its_id_gets_the_pairs():
    flat = parse("""
_format_version: "3.0"
consumers: [{username: erin}]
consumer_groups: [{name: g}]
consumer_group_consumers:
- id: 11111111-1111-4111-8111-111111111111
  consumer_group: g
  consumer: erin
""")
    (m,) = flat["consumer_group_consumers"]
    assert m["id"] == membership_id(m["consumer_group"]["id"], m["consumer"]["id"])


@pytest.mark.parametrize(("text", "expected"), [
    ("consumer_groups: [{tags: [a]}]", "consumer_group (consumer_groups[1]): name: required field missing"),
    ("consumer_groups: [{name: g, colour: red}]", "colour: unknown field"),
    ("consumer_groups: [{name: g}, {name: g}]",
     "uniqueness violation: 'consumer_groups' entity with name set to 'g' already declared"),
    ("consumer_groups: [{name: g, consumers: [{username: nobody}]}]\nconsumers: []", None),
    ("consumers: [{username: u, groups: [{name: missing}]}]",
     "invalid reference 'consumer_group: missing' (no such entry in 'consumer_groups')"),
    ("consumers: [{username: u, groups: 5}]", "expected an array"),
    ("consumers: [{username: u, groups: [7]}]", "expected a record"),
    ("consumers: [{username: u, groups: [{}]}]", "consumer_group: required field missing"),
    ("consumer_groups: [{name: g}]\nconsumer_group_consumers: [{consumer_group: g}]",
     "consumer: required field missing"),
    ("consumer_groups: [{name: g}]\nconsumer_group_consumers: [{consumer_group: g, consumer: ghost}]",
     "invalid reference 'consumer: ghost' (no such entry in 'consumers')"),
    ("plugins: [{name: response-transformer, consumer_group: nope}]",
     "invalid reference 'consumer_group: nope' (no such entry in 'consumer_groups')"),
])
def test_bad_input_is_refused_naming_the_entity(text, expected):
    doc = f'_format_version: "3.0"\n{text}\n'
    if expected is None:  # a consumer named only in a group's list is declared there
        flat = parse(doc)
        assert [c["username"] for c in flat["consumers"]] == ["nobody"]
        return
    with pytest.raises(DeclarativeConfigError) as err:
        parse(doc)
    assert expected in str(err.value)


def test_a_delta_and_a_full_config_check_memberships_references():
    flat = parse(DECK)
    flat["consumer_group_consumers"][0]["consumer"] = {"id": str(uuid.uuid4())}
    with pytest.raises(DeclarativeConfigError, match="no such entry in 'consumers'"):
        validate_flat(flat, plugins=PLUGINS)
