"""`GET /openapi.json` and the API's conformance to it: schemathesis generates requests for
every operation (a few examples each, to keep the run short) and checks that none gets a
500 and that every answer's status, content type and body are the ones the document allows."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from controlplane.api.openapi import document
from controlplane.api.resources import ENDPOINTS
from tests.controlplane.test_api_client import AdminApi

schema = schemathesis.openapi.from_dict(document())

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


@pytest.fixture(scope="module")
def api(db_conf):
    with AdminApi(db_conf) as admin:
        yield admin


def test_served_document_is_the_generated_one(api):
    served = api.get("/openapi.json").json()
    assert served == document() and served["openapi"] == "3.1.0"
    for ep in ENDPOINTS:
        assert ep.path in served["paths"]
    assert "/targets" not in served["paths"]
    post = served["paths"]["/services/{services}/routes"]["post"]
    assert "service" not in post["requestBody"]["content"]["application/json"]["schema"].get("required", [])


@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_conformance(case, api):
    case.call_and_validate(base_url=api.url, session=api.session, checks=CHECKS)
