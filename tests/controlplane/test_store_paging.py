"""Pagination, tag filters, nested listings and /tags over a real PostgreSQL."""
from __future__ import annotations

import pytest

from controlplane.cli import with_db
from controlplane.database import Database, InvalidOffset
from dataplane.schema import process


@pytest.fixture(scope="module")
def filled(db_conf):
    """250 services tagged by residue; route r<i> on every tenth service."""
    async def fill(db: Database):
        services = []
        for i in range(250):
            tags = ["all", f"mod2-{i % 2}", f"mod5-{i % 5}"]
            row, _ = process("services", {"name": f"s{i}", "host": "h.example", "tags": tags})
            services.append(await db.entities.insert("services", row))
        for i in range(0, 250, 10):
            row, _ = process("routes", {"name": f"r{i}", "paths": ["/"],
                                        "service": {"id": services[i]["id"]}})
            await db.entities.insert("routes", row)
        return services

    return db_conf, with_db(db_conf, fill)


async def all_pages(db: Database, entity: str, **kw) -> tuple[list[dict], int]:
    rows, offset, pages = [], None, 0
    while True:
        page, offset = await db.entities.page(entity, offset=offset, **kw)
        rows += page
        pages += 1
        if offset is None:
            return rows, pages


def test_pages_walk_every_row_once_in_id_order(filled):
    conf, services = filled

    async def scenario(db: Database):
        rows, pages = await all_pages(db, "services", size=100)
        assert pages == 3
        assert [r["id"] for r in rows] == sorted(s["id"] for s in services)
        first, offset = await db.entities.page("services", size=250)
        assert len(first) == 250 and offset is None

    with_db(conf, scenario)


def test_tag_filters_and_or(filled):
    conf, _ = filled

    async def scenario(db: Database):
        both, _ = await all_pages(db, "services", size=7, tags=["mod2-0", "mod5-0"])
        assert len(both) == 25 and all({"mod2-0", "mod5-0"} <= set(r["tags"]) for r in both)
        either, _ = await all_pages(db, "services", size=7, tags=["mod2-0", "mod5-0"],
                                    tags_any=True)
        assert len(either) == 125 + 50 - 25
        assert await db.entities.page("services", tags=["nope"]) == ([], None)

    with_db(conf, scenario)


def test_nested_listing_by_foreign_key(filled):
    conf, services = filled

    async def scenario(db: Database):
        routes, _ = await db.entities.page("routes", foreign=("service", services[10]["id"]))
        assert [r["name"] for r in routes] == ["r10"]
        assert await db.entities.page("routes", foreign=("service", services[11]["id"])) == ([], None)
        assert await db.entities.page("routes", foreign=("service", "junk")) == ([], None)
        with pytest.raises(KeyError):
            await db.entities.page("routes", foreign=("upstream", services[0]["id"]))

    with_db(conf, scenario)


@pytest.mark.parametrize("offset", ["garbage!", "", "WyJub3QtYS11dWlkIl0", "e30"])
def test_bad_offset(filled, offset):
    conf, _ = filled

    async def scenario(db: Database):
        with pytest.raises(InvalidOffset):
            await db.entities.page("services", offset=offset)
        with pytest.raises(InvalidOffset):
            await db.entities.tags(offset=offset)

    with_db(conf, scenario)


def test_tags_listing(filled):
    conf, services = filled

    async def scenario(db: Database):
        tagged, _ = await all_tags(db, tag="mod5-3")
        assert {(t["entity_name"], t["entity_id"]) for t in tagged} == \
            {("services", s["id"]) for s in services[3::5]}
        assert all(t["tag"] == "mod5-3" for t in tagged)
        every, _ = await all_tags(db)
        assert len(every) == 750
        assert len({(t["entity_id"], t["tag"]) for t in every}) == 750

    with_db(conf, scenario)


async def all_tags(db: Database, **kw) -> tuple[list[dict], int]:
    rows, offset, pages = [], None, 0
    while True:
        page, offset = await db.entities.tags(size=40, offset=offset, **kw)
        rows += page
        pages += 1
        if offset is None:
            return rows, pages
