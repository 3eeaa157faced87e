"""`GET /openapi.json` and the API's conformance to it: schemathesis generates requests for
every operation (a few examples each, to keep the run short) and checks that none gets a
500 and that every answer's status, content type and body are the ones the document allows.
The /clustering/* operations are also run on a control plane with data planes listed."""
from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from controlplane.api.openapi import document
from controlplane.api.resources import ENDPOINTS
from controlplane.cli import with_db
from tests.support.inprocess_control_plane import ControlPlane, shared_pair
from tests.support.model_data_plane import TestDataPlane
from tests.support.waiting import wait_for

schema = schemathesis.openapi.from_dict(document())
clustering = schema.include(path_regex="^/clustering/")
examples = settings(max_examples=4, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


def test_served_document_is_the_generated_one(api):
    served = api.get("/openapi.json").json()
    assert served == document() and served["openapi"] == "3.1.0"
    for ep in ENDPOINTS:
        assert ep.path in served["paths"]
    assert "/targets" not in served["paths"]
    assert "/upstreams/{upstreams}/targets/all" in served["paths"]
    assert all("options" in ops for ops in served["paths"].values())
    post = served["paths"]["/services/{services}/routes"]["post"]
    assert "service" not in post["requestBody"]["content"]["application/json"]["schema"].get("required", [])


def test_config_is_described(api):
    config = api.get("/openapi.json").json()["paths"]["/config"]
    assert set(config) == {"get", "post", "options"}
    assert set(config["post"]["responses"]) >= {"201", "304", "400", "413"}
    # a node with a database answers Kong's 400 to both, as described
    r = api.get("/config")
    assert r.status_code == 400 and "not use a database" in r.json()["message"]


def test_consumer_group_paths_are_described(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/consumer_groups/{consumer_groups}/consumers", "/consumers/{consumers}/consumer_groups"):
        assert set(paths[path]) == {"parameters", "get", "post", "delete", "options"}
    assert set(paths["/consumers/{consumers}/consumer_groups/{consumer_groups}"]) == {
        "parameters", "get", "delete", "options"}
    assert set(paths["/consumer_groups/{consumer_groups}/consumers/{consumers}"]) == {"parameters", "delete", "options"}
    group = paths["/consumer_groups/{consumer_groups}"]
    assert set(group) == {"parameters", "get", "put", "patch", "delete", "options"}
    shown = group["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert set(shown) == {"consumer_group", "consumers", "plugins"}
    assert "/consumer_group_consumers" not in paths and "/consumer_groups/{consumer_groups}/plugins" in paths


@schema.parametrize()
@examples
def test_conformance(case, api):
    case.call_and_validate(base_url=api.url, session=api.session, checks=CHECKS)


@pytest.fixture(scope="module")
def control_plane(postgres, tmp_path_factory):
    """A control plane listing a data plane in sync and one of a refused version."""
    cert, key = shared_pair(tmp_path_factory.mktemp("certs"))
    conf = postgres.conf(postgres.create_database(), role="control_plane", cluster_cert=cert, cluster_cert_key=key)
    with_db(conf, lambda db: db.migrations.bootstrap())
    with ControlPlane(conf) as cp:
        synced = TestDataPlane(cp.port, cert, key, cert, labels={"region": "eu"})
        refused = TestDataPlane(cp.port, cert, key, cert, version="99.0.0")

        async def connect() -> None:
            await synced.connect()
            await synced.receive_config()
            await refused.connect()
            assert (await refused.receive()).WhichOneof("kind") == "refusal"

        asyncio.run(connect())
        wait_for(lambda: {row["sync_status"] for row in cp.request("GET", "/clustering/data-planes").json()["data"]}
                 == {"normal", "kong_version_incompatible"}, message="both data planes listed")
        yield cp


def test_clustering_is_described(api):
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/clustering/data-planes", "/clustering/status"} <= set(paths)


@clustering.parametrize()
@examples
def test_clustering_conformance_on_a_control_plane(case, control_plane):
    case.call_and_validate(base_url=control_plane.url, session=control_plane.session, checks=CHECKS)
