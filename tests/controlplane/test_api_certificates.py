"""Certificates with their `snis` list, as Kong's certificates DAO and routes: SNI rows
written with the certificate in one transaction, read back sorted, and a certificate named
by one of its SNIs in the path."""
from __future__ import annotations

import pytest
import trustme


@pytest.fixture(scope="module")
def pem() -> dict[str, str]:
    leaf = trustme.CA().issue_cert("tls.test")
    return {"cert": leaf.cert_chain_pems[0].bytes().decode(),
            "key": leaf.private_key_pem.bytes().decode()}


def ok(r, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def sni_names(api, cert_id: str) -> list[str]:
    return sorted(s["name"] for s in api.get(f"/certificates/{cert_id}/snis").json()["data"])


def test_post_creates_the_snis_and_get_lists_them(api, pem):
    cert = ok(api.post("/certificates", json={**pem, "snis": ["b.post.test", "a.post.test"]}), 201)
    assert cert["snis"] == ["a.post.test", "b.post.test"]
    assert sni_names(api, cert["id"]) == ["a.post.test", "b.post.test"]
    assert ok(api.get(f"/certificates/{cert['id']}")) == cert
    assert ok(api.get("/certificates/b.post.test")) == cert  # looked up by SNI name
    listed = ok(api.get("/certificates"))["data"]
    assert next(c for c in listed if c["id"] == cert["id"])["snis"] == cert["snis"]
    plain = ok(api.post("/certificates", json=pem), 201)
    assert plain["snis"] == []


def test_put_and_patch_replace_the_list(api, pem):
    cert = ok(api.post("/certificates", json={**pem, "snis": ["one.test", "two.test"]}), 201)
    patched = ok(api.patch(f"/certificates/{cert['id']}", json={"snis": ["two.test", "three.test"]}))
    assert patched["snis"] == ["three.test", "two.test"]
    assert sni_names(api, cert["id"]) == ["three.test", "two.test"]
    # PATCH without snis keeps them
    assert ok(api.patch(f"/certificates/{cert['id']}", json={"tags": ["t"]}))["snis"] == \
        ["three.test", "two.test"]
    # PUT by SNI name adds that name to the given list
    put = ok(api.put("/certificates/two.test", json={**pem, "snis": ["four.test"]}))
    assert (put["id"], put["snis"]) == (cert["id"], ["four.test", "two.test"])
    # PUT without snis removes them all (Kong sends snis = null)
    assert ok(api.put(f"/certificates/{cert['id']}", json=pem))["snis"] == []
    assert sni_names(api, cert["id"]) == []


def test_put_by_an_unknown_sni_creates_a_certificate(api, pem):
    created = ok(api.put("/certificates/fresh.test", json={**pem, "snis": []}))
    assert created["snis"] == ["fresh.test"]
    assert ok(api.get("/certificates/fresh.test"))["id"] == created["id"]


def test_unknown_sni_in_the_path_is_404(api):
    for method in ("get", "patch", "delete"):
        r = getattr(api, method)("/certificates/nobody.test")
        assert (r.status_code, r.json()) == (404, {"message": "SNI not found"})
    r = api.get("/certificates/nobody.test/snis")
    assert (r.status_code, r.json()) == (404, {"message": "SNI not found"})


def test_duplicates_and_taken_names_write_nothing(api, pem):
    first = ok(api.post("/certificates", json={**pem, "snis": ["taken.test"]}), 201)
    r = api.post("/certificates", json={**pem, "snis": ["dup.test", "dup.test"]})
    assert r.status_code == 400
    assert r.json()["fields"] == {"snis": "dup.test is duplicated"}
    before = len(ok(api.get("/certificates?size=1000"))["data"])
    r = api.post("/certificates", json={**pem, "snis": ["new.test", "taken.test"]})
    assert r.status_code == 400
    assert r.json()["fields"] == {
        "snis": f"taken.test already associated with existing certificate '{first['id']}'"}
    # one transaction: neither the certificate nor new.test was written
    assert len(ok(api.get("/certificates?size=1000"))["data"]) == before
    assert api.get("/snis/new.test").status_code == 404


def test_delete_takes_the_snis_with_it(api, pem):
    cert = ok(api.post("/certificates", json={**pem, "snis": ["gone.test"]}), 201)
    assert api.delete("/certificates/gone.test").status_code == 204
    assert api.get(f"/certificates/{cert['id']}").status_code == 404
    assert api.get("/snis/gone.test").status_code == 404


def test_form_snis(api, pem):
    cert = ok(api.post("/certificates", data={**pem, "snis[]": ["f2.test", "f1.test"]}), 201)
    assert cert["snis"] == ["f1.test", "f2.test"]
