"""Consumer groups through the Admin API (real PostgreSQL): Kong Enterprise's paths and
answers for groups, memberships from either side, group-scoped plugins, cascades, errors."""
from __future__ import annotations

import uuid

from dataplane.schema.consumer_groups import membership_id


def created(r, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def consumer(api, username: str, **extra) -> dict:
    return created(api.post("/consumers", json={"username": username, **extra}))


def group(api, name: str, **extra) -> dict:
    return created(api.post("/consumer_groups", json={"name": name, **extra}))


# ------------------------------------------------------------------ the group entity


def test_group_crud_and_answer_shapes(api):
    g = group(api, "gold", tags=["tier"])
    assert set(g) == {"id", "created_at", "updated_at", "name", "tags"}
    assert (g["name"], g["tags"]) == ("gold", ["tier"])
    for key in (g["id"], "gold"):
        assert api.get(f"/consumer_groups/{key}").json() == {"consumer_group": g, "consumers": [], "plugins": []}
    assert api.get("/consumer_groups/gold?list_consumers=false").json() == {"consumer_group": g, "plugins": []}
    patched = created(api.patch("/consumer_groups/gold", json={"tags": ["a", "b"]}), 200)
    assert (patched["id"], patched["tags"], patched["created_at"]) == (g["id"], ["a", "b"], g["created_at"])
    renamed = created(api.put(f"/consumer_groups/{g['id']}", json={"name": "platinum"}), 200)
    assert (renamed["id"], renamed["name"], renamed["tags"]) == (g["id"], "platinum", None)
    assert api.get("/consumer_groups/gold").status_code == 404
    assert api.delete("/consumer_groups/platinum").status_code == 204
    assert api.get(f"/consumer_groups/{g['id']}").status_code == 404
    assert api.delete("/consumer_groups/platinum").status_code == 204  # absent: still 204


def test_group_put_by_name_and_by_client_chosen_id(api):
    by_name = created(api.put("/consumer_groups/silver", json={"tags": ["x"]}), 200)
    assert by_name["name"] == "silver"
    chosen = str(uuid.uuid4())
    by_id = created(api.put(f"/consumer_groups/{chosen}", json={"name": "bronze"}), 200)
    assert by_id["id"] == chosen
    again = created(api.put(f"/consumer_groups/{chosen}", json={"name": "bronze"}), 200)
    assert again["created_at"] == by_id["created_at"]


def test_group_bad_input(api):
    r = api.post("/consumer_groups", json={})
    assert (r.status_code, r.json()["fields"]) == (400, {"name": "required field missing"})
    r = api.post("/consumer_groups", json={"name": 5, "color": "red"})
    assert r.json()["fields"] == {"name": "expected a string", "color": "unknown field"}
    group(api, "dup-group")
    r = api.post("/consumer_groups", json={"name": "dup-group"})
    assert r.status_code == 409
    assert r.json() == {"code": 5, "name": "unique constraint violation",
                        "message": "UNIQUE violation detected on '{name=\"dup-group\"}'",
                        "fields": {"name": "dup-group"}}
    r = api.patch("/consumer_groups/no-such-group", json={"tags": ["a"]})
    assert r.status_code == 404
    assert api.get("/consumer_groups/no-such-group").json() == {"message": "Not found"}


def test_group_list_pagination_and_tags(api):
    for i in range(5):
        group(api, f"paged-{i}", tags=["paged", f"n{i % 2}"])
    seen, url = [], "/consumer_groups?size=2&tags=paged"
    while url:
        page = api.get(url).json()
        seen += [g["name"] for g in page["data"]]
        url = page["next"]
    assert sorted(seen) == [f"paged-{i}" for i in range(5)]
    odd = api.get("/consumer_groups?tags=paged,n1").json()["data"]
    assert sorted(g["name"] for g in odd) == ["paged-1", "paged-3"]
    tagged = api.get("/tags/paged").json()["data"]
    assert {row["entity_name"] for row in tagged} == {"consumer_groups"}


def test_schemas_endpoint_describes_groups(api):
    fields = {next(iter(f)): f[next(iter(f))] for f in api.get("/schemas/consumer_groups").json()["fields"]}
    assert fields["name"]["required"] is True and fields["name"]["unique"] is True
    plugin_fields = [next(iter(f)) for f in api.get("/schemas/plugins").json()["fields"]]
    assert "consumer_group" in plugin_fields
    members = [next(iter(f)) for f in api.get("/schemas/consumer_group_consumers").json()["fields"]]
    assert {"consumer_group", "consumer"} <= set(members)


# ------------------------------------------------------------------ memberships


def test_add_consumers_from_the_group_side(api):
    g = group(api, "members-g")
    alice, bob = consumer(api, "m-alice"), consumer(api, "m-bob", tags=["t"])
    # go-kong's ConsumerGroupConsumers.Create: {"consumer": id or username}
    r = api.post("/consumer_groups/members-g/consumers", json={"consumer": "m-alice"})
    assert (r.status_code, r.json()) == (201, {"consumer_group": g, "consumers": [alice]})
    r = api.post(f"/consumer_groups/{g['id']}/consumers", data={"consumer": bob["id"]})
    assert (r.status_code, r.json()) == (201, {"consumer_group": g, "consumers": [bob]})
    answer = api.get("/consumer_groups/members-g").json()
    assert sorted(c["id"] for c in answer["consumers"]) == sorted([alice["id"], bob["id"]])
    page = api.get("/consumer_groups/members-g/consumers").json()
    assert sorted(c["username"] for c in page["data"]) == ["m-alice", "m-bob"] and page["next"] is None
    assert [c["username"] for c in api.get("/consumer_groups/members-g/consumers?tags=t").json()["data"]] == ["m-bob"]
    assert api.get("/consumers/m-alice/consumer_groups").json() == {"data": [g], "next": None}
    assert api.get("/consumers/m-alice/consumer_groups/members-g").json() == {"consumer_group": g}


def test_add_a_list_of_consumers_at_once(api):
    g = group(api, "list-g")
    names = [consumer(api, f"l-{i}")["username"] for i in range(3)]
    r = api.post("/consumer_groups/list-g/consumers", json={"consumer": names})
    assert r.status_code == 201
    assert [c["username"] for c in r.json()["consumers"]] == names
    # one already a member, one unknown: nothing is written
    consumer(api, "l-new")
    r = api.post("/consumer_groups/list-g/consumers", json={"consumer": ["l-new", "l-0"]})
    assert (r.status_code, r.json()) == (409, {"message": f"Consumer 'l-0' already in group '{g['id']}'"})
    r = api.post("/consumer_groups/list-g/consumers", json={"consumer": ["l-new", "nobody"]})
    assert (r.status_code, r.json()) == (404, {"message": "Consumer 'nobody' not found"})
    assert len(api.get("/consumer_groups/list-g/consumers").json()["data"]) == 3
    # a form naming several: the field repeated, or Kong's array syntax
    group(api, "form-g")
    r = api.post("/consumer_groups/form-g/consumers", data=[("consumer", "l-0"), ("consumer", "l-1")])
    assert r.status_code == 201 and [c["username"] for c in r.json()["consumers"]] == ["l-0", "l-1"]
    r = api.post("/consumer_groups/form-g/consumers", data=[("consumer[1]", "l-2"), ("consumer[2]", "l-new")])
    assert r.status_code == 201 and [c["username"] for c in r.json()["consumers"]] == ["l-2", "l-new"]


def test_add_groups_from_the_consumer_side(api):
    c = consumer(api, "side-c")
    g1, g2 = group(api, "side-1"), group(api, "side-2")
    r = api.post("/consumers/side-c/consumer_groups", json={"group": "side-1"})
    assert (r.status_code, r.json()) == (201, {"consumer": c, "consumer_groups": [g1]})
    r = api.post(f"/consumers/{c['id']}/consumer_groups", json={"group": [g2["id"]]})
    assert (r.status_code, r.json()) == (201, {"consumer": c, "consumer_groups": [g2]})
    r = api.post("/consumers/side-c/consumer_groups", json={"group": "side-1"})
    assert (r.status_code, r.json()) == (409, {"message": f"Consumer 'side-c' already in group '{g1['id']}'"})
    r = api.post("/consumers/side-c/consumer_groups", json={"group": "side-none"})
    assert (r.status_code, r.json()) == (404, {"message": "Group 'side-none' not found"})
    groups = api.get("/consumers/side-c/consumer_groups").json()["data"]
    assert sorted(g["name"] for g in groups) == ["side-1", "side-2"]


def test_membership_bad_input(api):
    group(api, "bad-g")
    consumer(api, "bad-c")
    for body in ({}, {"consumer": ""}, {"consumer": []}):
        r = api.post("/consumer_groups/bad-g/consumers", json=body)
        assert (r.status_code, r.json()) == (400, {"message": "must provide consumer"}), body
    r = api.post("/consumer_groups/bad-g/consumers", json={"consumer": [5]})
    assert r.status_code == 400 and r.json()["name"] == "schema violation"
    r = api.post("/consumer_groups/bad-g/consumers", data=b"{", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"message": "Cannot parse JSON body"})
    r = api.post("/consumers/bad-c/consumer_groups", json={"group": None})
    assert (r.status_code, r.json()) == (400, {"message": "must provide group"})
    # a group or consumer in the path that does not exist
    for path in ("/consumer_groups/nope/consumers", "/consumers/nope/consumer_groups"):
        assert api.get(path).status_code == 404
        r = api.post(path, json={"consumer": "bad-c", "group": "bad-g"})
        assert (r.status_code, r.json()) == (404, {"message": "Not found"})
    assert api.delete("/consumer_groups/bad-g/consumers/bad-c").status_code == 404  # not a member
    assert api.get("/consumers/bad-c/consumer_groups/bad-g").status_code == 404
    assert api.put("/consumer_groups/bad-g/consumers", json={}).status_code == 405
    r = api.request("OPTIONS", "/consumer_groups/bad-g/consumers")
    assert (r.status_code, r.headers["Allow"]) == (204, "DELETE, GET, HEAD, OPTIONS, POST")
    assert api.request("OPTIONS", "/consumer_groups/bad-g").headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"
    assert api.request("HEAD", "/consumers/bad-c/consumer_groups").status_code == 200
    # the membership entity has no generic paths
    assert api.get("/consumer_group_consumers").status_code == 404


def test_remove_memberships(api):
    g = group(api, "rm-g")
    other = group(api, "rm-other")
    cs = [consumer(api, f"rm-{i}") for i in range(3)]
    api.post("/consumer_groups/rm-g/consumers", json={"consumer": [c["id"] for c in cs]})
    api.post("/consumer_groups/rm-other/consumers", json={"consumer": "rm-0"})
    assert api.delete("/consumer_groups/rm-g/consumers/rm-1").status_code == 204
    assert sorted(c["username"] for c in api.get("/consumer_groups/rm-g/consumers").json()["data"]) == ["rm-0", "rm-2"]
    assert api.delete(f"/consumers/{cs[2]['id']}/consumer_groups/{g['id']}").status_code == 204
    assert [c["username"] for c in api.get("/consumer_groups/rm-g/consumers").json()["data"]] == ["rm-0"]
    # every group of one consumer, then every consumer of one group
    assert api.delete("/consumers/rm-0/consumer_groups").status_code == 204
    assert api.get("/consumers/rm-0/consumer_groups").json()["data"] == []
    api.post("/consumer_groups/rm-g/consumers", json={"consumer": ["rm-0", "rm-1"]})
    assert api.delete("/consumer_groups/rm-g/consumers").status_code == 204
    assert api.get("/consumer_groups/rm-g").json()["consumers"] == []
    assert api.get(f"/consumer_groups/{other['id']}").json()["consumers"] == []


def test_membership_pagination(api):
    group(api, "page-g")
    ids = [consumer(api, f"page-{i}")["id"] for i in range(5)]
    api.post("/consumer_groups/page-g/consumers", json={"consumer": ids})
    seen, url = [], "/consumer_groups/page-g/consumers?size=2"
    while url:
        page = api.get(url).json()
        assert len(page["data"]) <= 2
        seen += [c["id"] for c in page["data"]]
        url = page["next"]
    assert seen == sorted(ids)
    assert api.get("/consumer_groups/page-g/consumers?size=0").status_code == 400


# ------------------------------------------------------------------ cascades


def test_deleting_a_consumer_or_a_group_removes_its_memberships_and_plugins(api, db_conf):
    from controlplane.cli import with_db

    g = group(api, "casc-g")
    c1, c2 = consumer(api, "casc-1"), consumer(api, "casc-2")
    api.post("/consumer_groups/casc-g/consumers", json={"consumer": ["casc-1", "casc-2"]})
    plugin = created(api.post("/consumer_groups/casc-g/plugins", json={"name": "response-transformer"}))
    assert plugin["consumer_group"] == {"id": g["id"]}
    assert api.delete("/consumers/casc-1").status_code == 204
    assert [c["id"] for c in api.get("/consumer_groups/casc-g").json()["consumers"]] == [c2["id"]]
    assert api.delete("/consumer_groups/casc-g").status_code == 204
    assert api.get(f"/plugins/{plugin['id']}").status_code == 404
    assert api.get("/consumers/casc-2/consumer_groups").json()["data"] == []

    async def left(db):
        flat = await db.entities.export()
        return [m for m in flat["consumer_group_consumers"] if m["consumer"]["id"] in (c1["id"], c2["id"])]

    assert with_db(db_conf, left) == []


# ------------------------------------------------------------------ group-scoped plugins


def test_plugins_scoped_to_a_group(api):
    g = group(api, "plug-g")
    svc = created(api.post("/services", json={"name": "plug-svc", "host": "example.test"}))
    p = created(api.post("/consumer_groups/plug-g/plugins", json={"name": "response-transformer"}))
    assert (p["consumer_group"], p["consumer"], p["service"]) == ({"id": g["id"]}, None, None)
    assert api.get(f"/consumer_groups/plug-g/plugins/{p['id']}").json() == p
    assert [x["id"] for x in api.get("/consumer_groups/plug-g/plugins").json()["data"]] == [p["id"]]
    # the same plugin may be scoped to the group and a service at once: another cache key
    both = created(api.post("/plugins", json={"name": "response-transformer", "consumer_group": {"id": g["id"]},
                                             "service": {"id": svc["id"]}}))
    assert both["consumer_group"] == {"id": g["id"]}
    r = api.post("/consumer_groups/plug-g/plugins", json={"name": "response-transformer"})
    assert r.status_code == 409
    assert r.json()["fields"] == {"name": "response-transformer", "route": None, "service": None, "consumer": None,
                                  "consumer_group": {"id": g["id"]}}
    # a global response-transformer does not collide with the group's
    glob = created(api.post("/plugins", json={"name": "response-transformer"}))
    assert glob["consumer_group"] is None
    r = api.post("/plugins", json={"name": "response-transformer", "consumer_group": {"id": str(uuid.uuid4())}})
    assert r.status_code == 400 and r.json()["name"] == "foreign key violation"
    assert api.get(f"/plugins/{p['id']}/consumer_group").json() == g
    # a plugin that identifies consumers is never scoped to a group (it runs before one is known)
    r = api.post("/consumer_groups/plug-g/plugins", json={"name": "key-auth"})
    assert (r.status_code, r.json()["fields"]) == (400, {"consumer_group": "value must be null"})
    for x in (p, both, glob):
        api.delete(f"/plugins/{x['id']}")


def test_membership_ids_are_the_pairs(api, db_conf):
    from controlplane.cli import with_db

    g = group(api, "ids-g")
    c = consumer(api, "ids-c")
    api.post("/consumer_groups/ids-g/consumers", json={"consumer": "ids-c"})

    async def rows(db):
        return [m for m in (await db.entities.export())["consumer_group_consumers"]
                if m["consumer_group"]["id"] == g["id"]]

    (row,) = with_db(db_conf, rows)
    assert row["id"] == membership_id(g["id"], c["id"])
    assert set(row) == {"id", "created_at", "consumer_group", "consumer"}


def test_removing_every_member_is_one_write(api, db_conf):
    from controlplane.cli import with_db

    def version() -> int:
        return with_db(db_conf, lambda db: db.entities.current_version())

    group(api, "one-write")
    ids = [consumer(api, f"one-{i}")["id"] for i in range(4)]
    before = version()
    api.post("/consumer_groups/one-write/consumers", json={"consumer": ids})
    assert version() == before + 1  # a list is added in one write too
    assert api.delete("/consumer_groups/one-write/consumers").status_code == 204
    assert version() == before + 2
    assert api.delete("/consumer_groups/one-write/consumers").status_code == 204  # none left: no write
    assert version() == before + 2
