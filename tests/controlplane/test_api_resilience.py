"""Races and outages: concurrent writes of one name, and PostgreSQL going away and back."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from controlplane.cli import with_db
from tests.support.admin_api import AdminApi
from tests.support.waiting import wait_for


def test_concurrent_posts_of_one_name(api):
    def post(_: int) -> requests.Response:
        # one connection per request, so that all 50 really are in flight together
        return requests.post(f"{api.url}/services", json={"name": "raced", "host": "a.test"}, timeout=30)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(post, range(50)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 49
    conflict = next(r for r in answers if r.status_code == 409)
    assert conflict.json() == {"code": 5, "name": "unique constraint violation",
                               "message": "UNIQUE violation detected on '{name=\"raced\"}'",
                               "fields": {"name": "raced"}}
    assert len(api.get("/services").json()["data"]) == 1


def test_database_down_is_503_then_recovers(own_postgres):
    conf = own_postgres.conf(own_postgres.create_database())
    with_db(conf, lambda db: db.migrations.bootstrap())
    with AdminApi(conf) as api:
        assert api.post("/services", json={"name": "before", "host": "a.test"}).status_code == 201
        own_postgres.stop()
        try:
            r = api.post("/services", json={"name": "during", "host": "a.test"})
            assert r.status_code == 503
            assert r.json()["message"].startswith(
                "database unavailable; the Admin API answers again once it is back")
            assert api.get("/services/before").status_code == 503
            status = api.get("/status")
            assert (status.status_code, status.json()["database"]) == (200, {"reachable": False})
        finally:
            own_postgres.start()
        def written() -> tuple[requests.Response] | None:
            r = api.post("/services", json={"name": "after", "host": "a.test"})
            return None if r.status_code == 503 else (r,)

        (r,) = wait_for(written, timeout=20, interval=0.2, message="a write once PostgreSQL is back")
        assert r.status_code == 201
        assert api.get("/status").json()["database"] == {"reachable": True}
        assert api.get("/services/before").status_code == 200
