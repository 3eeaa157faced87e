"""A replay of the Kong Ingress Controller's database-backed sync (KIC drives decK's engine,
go-database-reconciler, through go-kong) against the Admin API on a real PostgreSQL.

What decK does, and so what this replay does:
- dump: GET / (the version decides the consumer group calls), then every entity type it
  knows, `?size=1000&tags=managed-by-ingress-controller`, following `next`; targets per
  upstream; each consumer group with GET /consumer_groups/{name}, its members being those
  consumers that carry the tag; oauth2 and mtls-auth credentials are skipped on a 404;
- defaults: the target state gets the defaults of GET /schemas/{services,routes,upstreams,
  targets} and, for each plugin, GET /schemas/plugins/{name}'s config defaults (go-kong's
  fillConfigRecord: every config field present, those without a default an explicit null,
  records filled when given or required), protocols and enabled;
- diff by id: an entity is equal when its fields are, null fields absent (go-kong's pointer
  fields), created_at/updated_at ignored, tags as a set, references by id only; basic-auth
  passwords are not compared (Kong hashes them; decK compares with ignorePassword), nor a CA
  certificate's cert_digest;
- write: PUT by the client-chosen id (PATCH for a consumer group's update; a target PUT, then
  POST with its id when the PUT is a 404, as go-kong), credentials under
  their consumer, a membership with POST /consumer_groups/{g}/consumers {"consumer": id} and
  DELETE /consumer_groups/{g}/consumers/{c}, deletes children first.

A sync is drift-free when the dump taken right after it diffs as empty: KIC would otherwise
write again on every sync, and every data plane would get a new configuration each time.
"""
from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import trustme

TAG = "managed-by-ingress-controller"
PAGE = f"size=1000&tags={TAG}"


def uid(name: str) -> str:
    """A client-chosen id, as KIC derives its own from Kubernetes object names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kic:{name}"))


# The collections decK lists, the path each kind is written to, and the foreign key a kind is
# written under (credentials go under their consumer).
KINDS: dict[str, dict[str, Any]] = {
    "services": {"path": "/services"},
    "routes": {"path": "/routes"},
    "upstreams": {"path": "/upstreams"},
    "targets": {"path": None, "parent": ("upstream", "/upstreams/{}/targets")},
    "ca_certificates": {"path": "/ca_certificates", "ignore": ("cert_digest",)},
    "certificates": {"path": "/certificates"},
    "snis": {"path": "/snis"},
    "consumers": {"path": "/consumers"},
    "consumer_groups": {"path": "/consumer_groups"},
    "key-auths": {"path": "/key-auths", "parent": ("consumer", "/consumers/{}/key-auth")},
    "basic-auths": {"path": "/basic-auths", "parent": ("consumer", "/consumers/{}/basic-auth"),
                    "ignore": ("password",)},
    "hmac-auths": {"path": "/hmac-auths", "parent": ("consumer", "/consumers/{}/hmac-auth")},
    "jwts": {"path": "/jwts", "parent": ("consumer", "/consumers/{}/jwt")},
    "acls": {"path": "/acls", "parent": ("consumer", "/consumers/{}/acls")},
    "plugins": {"path": "/plugins"},
}
# creates in this order, deletes in the reverse one
ORDER = ["ca_certificates", "certificates", "snis", "services", "routes", "upstreams", "targets", "consumers",
         "consumer_groups", "key-auths", "basic-auths", "hmac-auths", "jwts", "acls", "plugins"]
DEFAULTED = ("services", "routes", "upstreams", "targets")


class Replay:
    """decK's engine, as far as a sync goes, over the Admin API client `api`."""

    def __init__(self, api) -> None:
        self.api = api
        self.writes: list[tuple[str, str]] = []
        self._schemas: dict[str, dict] = {}

    # ------------------------------------------------------------------ reading

    def _get(self, path: str) -> Any:
        r = self.api.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def _all(self, path: str) -> list[dict]:
        rows: list[dict] = []
        url: str | None = f"{path}?{PAGE}"
        while url:
            page = self._get(url)
            rows += page["data"]
            url = page["next"]
        return rows

    def dump(self) -> dict[str, Any]:
        version = self._get("/")["version"]
        assert tuple(int(x) for x in version.split("-")[0].split(".")[:2]) >= (3, 4)  # decK's 3.4+ path
        state: dict[str, Any] = {kind: {} for kind in KINDS}
        for kind, spec in KINDS.items():
            if spec["path"] is None:
                continue
            for row in self._all(spec["path"]):
                state[kind][row["id"]] = row
        for upstream in list(state["upstreams"].values()):
            for row in self._all(f"/upstreams/{upstream['id']}/targets"):
                state["targets"][row["id"]] = row
        members: set[tuple[str, str]] = set()
        for group in list(state["consumer_groups"].values()):
            answer = self._get(f"/consumer_groups/{group['name']}")
            assert answer["consumer_group"] == group
            members |= {(group["id"], c["id"]) for c in answer["consumers"] if TAG in (c.get("tags") or ())}
        state["members"] = members
        for skipped in ("/oauth2", "/mtls-auths"):  # decK goes on without them on a 404
            assert self.api.get(f"{skipped}?{PAGE}").status_code == 404
        return state

    # ------------------------------------------------------------------ defaults

    def _schema(self, path: str) -> dict:
        if path not in self._schemas:
            self._schemas[path] = self._get(path)
        return self._schemas[path]

    def with_defaults(self, target: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(target)
        for kind in DEFAULTED:
            defaults = {}
            for entry in self._schema(f"/schemas/{kind}")["fields"]:
                ((name, field),) = entry.items()
                if "default" in field and name != "id":
                    defaults[name] = field["default"]
            for row in out[kind].values():
                _merge_defaults(row, defaults)
        for plugin in out["plugins"].values():
            schema = self._schema(f"/schemas/plugins/{plugin['name']}")
            fields = dict(next(iter(e.items())) for e in schema["fields"])
            plugin["config"] = _fill_record(fields["config"], plugin.get("config") or {})
            plugin.setdefault("protocols", fields.get("protocols", {}).get("default"))
            plugin.setdefault("enabled", True)
        return out

    # ------------------------------------------------------------------ diff and write

    def diff(self, current: dict[str, Any], target: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(op, kind, id) of every write the sync needs, in decK's order."""
        ops: list[tuple[str, str, str]] = []
        for kind in ORDER:
            for id, row in target[kind].items():
                have = current[kind].get(id)
                if have is None:
                    ops.append(("create", kind, id))
                elif comparable(kind, have) != comparable(kind, row):
                    ops.append(("update", kind, id))
        ops += [("add", "members", f"{g}|{c}") for g, c in sorted(target["members"] - current["members"])]
        ops += [("remove", "members", f"{g}|{c}") for g, c in sorted(current["members"] - target["members"])]
        for kind in reversed(ORDER):
            ops += [("delete", kind, id) for id in current[kind] if id not in target[kind]]
        return ops

    def sync(self, target: dict[str, Any]) -> list[tuple[str, str, str]]:
        current = self.dump()
        filled = self.with_defaults(target)
        ops = self.diff(current, filled)
        for op, kind, id in ops:
            if kind == "members":
                group, consumer = id.split("|")
                if op == "add":
                    r = self.api.post(f"/consumer_groups/{group}/consumers", json={"consumer": consumer})
                    assert r.status_code == 201, r.text
                else:
                    assert self.api.delete(f"/consumer_groups/{group}/consumers/{consumer}").status_code == 204
            elif op == "delete":
                assert self.api.delete(f"{self._path(kind, current[kind][id])}/{id}").status_code == 204
            else:
                self._write(op, kind, target[kind][id], current[kind].get(id))
            self.writes.append((op, kind))
        return ops

    def _path(self, kind: str, row: dict) -> str:
        spec = KINDS[kind]
        if "parent" in spec:
            fk, template = spec["parent"]
            return template.format(row[fk]["id"])
        return spec["path"]

    def _write(self, op: str, kind: str, row: dict, current: dict | None) -> None:
        body = dict(row)
        if kind == "consumer_groups" and op == "update":
            # go-kong's ConsumerGroups.Update: PATCH, decK keeping the stored created_at
            body["created_at"] = current["created_at"] if current else None
            r = self.api.patch(f"/consumer_groups/{row['id']}", json=body)
        else:
            r = self.api.put(f"{self._path(kind, row)}/{row['id']}", json=body)
            if kind == "targets" and r.status_code == 404:
                # go-kong's Targets.Create: PUT by id, and on a 404 POST with the id in the body
                r = self.api.post(self._path(kind, row), json=body)
                assert r.status_code == 201, (kind, body, r.text)
                return
        assert r.status_code == 200, (kind, body, r.text)


def _merge_defaults(row: dict, defaults: dict) -> None:
    """mergo.Merge of the schema defaults into an entity: only fields it leaves unset."""
    for name, value in defaults.items():
        if row.get(name) is None:
            row[name] = copy.deepcopy(value)
        elif isinstance(row[name], dict) and isinstance(value, dict):
            _merge_defaults(row[name], value)


def _fields(schema: dict) -> list[tuple[str, dict]]:
    return [next(iter(entry.items())) for entry in schema.get("fields") or ()]


def _fill_record(schema: dict, config: dict) -> dict:
    """go-kong's fillConfigRecord: the config with every field of its record schema."""
    out = dict(config)
    record_default = schema.get("default") if isinstance(schema.get("default"), dict) else {}
    for name, field in _fields(schema):
        given = config.get(name)
        if name in config:
            if isinstance(given, dict) and "keys" in field and "values" in field:
                continue
            if isinstance(given, list) and (field.get("elements") or {}).get("type") != "record":
                continue
            if not isinstance(given, (dict, list)):
                continue
        if field.get("type") == "record" and (given is not None or field.get("required")):
            sub = _fill_record(field, given if isinstance(given, dict) else {})
            if sub:
                out[name] = sub
            continue
        if field.get("type") in ("array", "set") and (field.get("elements") or {}).get("type") == "record":
            if isinstance(given, list) and given:
                out[name] = [_fill_record(field["elements"], e) if isinstance(e, dict) else e for e in given]
                continue
        out[name] = record_default[name] if name in record_default else field.get("default")
    return out


def comparable(kind: str, row: dict) -> dict:
    """An entity as decK compares it (see the module's docstring)."""
    ignored = {"created_at", "updated_at", *KINDS[kind].get("ignore", ())}
    out = {}
    for name, value in row.items():
        if value is None or name in ignored:
            continue
        if name == "tags" or (kind == "plugins" and name == "protocols"):
            value = sorted(value)
            if name == "tags" and not value:
                continue
        if isinstance(value, dict) and set(value) >= {"id"} and name != "config":
            value = {"id": value["id"]}  # a reference: decK drops its name
        out[name] = value
    return out


# ------------------------------------------------------------------ the states KIC asks for


def tagged(*more: str) -> list[str]:
    return [TAG, *more]


def first_target(ca_pem: str) -> dict[str, Any]:
    svc, route = uid("svc/echo"), uid("route/echo")
    alice, bob, carol = uid("consumer/alice"), uid("consumer/bob"), uid("consumer/carol")
    gold, silver = uid("group/gold"), uid("group/silver")
    upstream = uid("upstream/echo")
    target: dict[str, Any] = {kind: {} for kind in KINDS}

    def put(kind: str, row: dict) -> None:
        target[kind][row["id"]] = row

    put("ca_certificates", {"id": uid("ca/root"), "cert": ca_pem, "tags": tagged("k8s-name:root")})
    put("services", {"id": svc, "name": "default.echo.80", "host": "echo.default.80.svc", "port": 80,
                     "protocol": "http", "path": "/", "connect_timeout": 60000, "read_timeout": 60000,
                     "write_timeout": 60000, "retries": 5, "tags": tagged("k8s-name:echo", "k8s-kind:Service")})
    put("routes", {"id": route, "name": "default.echo.echo.80", "paths": ["/echo"], "protocols": ["http", "https"],
                   "strip_path": True, "preserve_host": True, "https_redirect_status_code": 426,
                   "path_handling": "v0", "request_buffering": True, "response_buffering": True,
                   "regex_priority": 0, "service": {"id": svc}, "tags": tagged("k8s-name:echo")})
    put("upstreams", {"id": upstream, "name": "echo.default.80.svc", "algorithm": "round-robin",
                      "tags": tagged("k8s-name:echo")})
    put("targets", {"id": uid("target/echo-1"), "target": "10.0.0.1:8080", "weight": 100,
                    "upstream": {"id": upstream}, "tags": tagged()})
    for cid, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
        put("consumers", {"id": cid, "username": name, "custom_id": f"custom-{name}",
                          "tags": tagged(f"k8s-name:{name}", "k8s-kind:KongConsumer")})
    put("consumer_groups", {"id": gold, "name": "gold", "tags": tagged("k8s-name:gold")})
    put("consumer_groups", {"id": silver, "name": "silver", "tags": tagged("k8s-name:silver")})
    put("key-auths", {"id": uid("cred/alice-key"), "key": "alice-secret-key", "consumer": {"id": alice},
                      "tags": tagged("k8s-name:alice-key")})
    put("basic-auths", {"id": uid("cred/bob-basic"), "username": "bob", "password": "hunter2",
                        "consumer": {"id": bob}, "tags": tagged("k8s-name:bob-basic")})
    put("hmac-auths", {"id": uid("cred/carol-hmac"), "username": "carol-hmac", "secret": "carol-hmac-secret",
                       "consumer": {"id": carol}, "tags": tagged()})
    put("jwts", {"id": uid("cred/carol-jwt"), "key": "carol-issuer", "secret": "carol-jwt-secret",
                 "algorithm": "HS256", "consumer": {"id": carol}, "tags": tagged()})
    put("acls", {"id": uid("cred/alice-acl"), "group": "admins", "consumer": {"id": alice}, "tags": tagged()})
    put("plugins", {"id": uid("plugin/key-auth"), "name": "key-auth", "route": {"id": route},
                    "config": {"key_names": ["apikey"]}, "protocols": ["http", "https"], "enabled": True,
                    "tags": tagged("k8s-name:key-auth")})
    put("plugins", {"id": uid("plugin/gold-rt"), "name": "response-transformer",
                    "consumer_group": {"id": gold}, "config": {"add": {"headers": ["x-tier:gold"]}},
                    "protocols": ["http", "https"], "enabled": True, "tags": tagged("k8s-name:gold-rt")})
    put("plugins", {"id": uid("plugin/rate"), "name": "rate-limiting", "service": {"id": svc},
                    "config": {"minute": 100, "policy": "local"}, "protocols": ["http", "https"],
                    "enabled": True, "tags": tagged()})
    target["members"] = {(gold, alice), (gold, bob), (silver, carol)}
    return target


def second_target(first: dict[str, Any]) -> dict[str, Any]:
    """A later sync: a changed service, plugin and group, a membership moved, one added, a
    credential and a consumer removed (its memberships and credentials go with it)."""
    t = copy.deepcopy(first)
    svc = uid("svc/echo")
    t["services"][svc]["read_timeout"] = 5000
    t["plugins"][uid("plugin/gold-rt")]["config"] = {"add": {"headers": ["x-tier:gold", "x-more:1"]}}
    t["consumer_groups"][uid("group/silver")]["tags"] = tagged("k8s-name:silver", "tier:2")
    del t["acls"][uid("cred/alice-acl")]
    carol = uid("consumer/carol")
    del t["consumers"][carol]
    del t["hmac-auths"][uid("cred/carol-hmac")]
    del t["jwts"][uid("cred/carol-jwt")]
    gold, silver = uid("group/gold"), uid("group/silver")
    t["members"] = {(gold, uid("consumer/alice")), (silver, uid("consumer/bob"))}
    return t


# ------------------------------------------------------------------ the replay


@pytest.fixture
def ca_pem() -> str:
    return trustme.CA().cert_pem.bytes().decode()


def test_a_kic_sync_is_drift_free(api, ca_pem):
    kic = Replay(api)
    # what KIC does not manage: never in its dump, never touched
    outsider = api.post("/consumers", json={"username": "outsider"}).json()
    api.post("/consumer_groups", json={"name": "outside-group"})
    api.post("/consumer_groups/outside-group/consumers", json={"consumer": "outsider"})

    target = first_target(ca_pem)
    ops = kic.sync(target)
    assert {op for op, _, _ in ops} == {"create", "add"}
    after = kic.dump()
    assert kic.diff(after, kic.with_defaults(target)) == []
    for kind in ORDER:  # exactly the target, field for field (null fields aside)
        assert {i: comparable(kind, r) for i, r in after[kind].items()} == \
            {i: comparable(kind, r) for i, r in kic.with_defaults(target)[kind].items()}, kind
    assert after["members"] == target["members"]
    # the basic-auth password is stored hashed, as Kong stores it: decK never compares it
    stored = after["basic-auths"][uid("cred/bob-basic")]["password"]
    assert stored != "hunter2" and len(stored) == 40

    # a sync with nothing changed writes nothing
    kic.writes.clear()
    assert kic.sync(target) == [] and kic.writes == []

    second = second_target(target)
    ops = kic.sync(second)
    assert sorted((op, kind) for op, kind, _ in ops) == sorted([
        ("update", "services"), ("update", "consumer_groups"), ("update", "plugins"),
        ("add", "members"), ("remove", "members"), ("remove", "members"),
        ("delete", "acls"), ("delete", "hmac-auths"), ("delete", "jwts"), ("delete", "consumers")])
    after = kic.dump()
    assert kic.diff(after, kic.with_defaults(second)) == []
    assert after["members"] == second["members"]
    kic.writes.clear()
    assert kic.sync(second) == [] and kic.writes == []

    # the outsider and its group were left alone
    assert api.get("/consumer_groups/outside-group").json()["consumers"] == [outsider]
    # deleting everything KIC manages leaves nothing of it
    empty = {kind: {} for kind in KINDS} | {"members": set()}
    kic.sync(empty)
    after = kic.dump()
    assert not any(after[kind] for kind in KINDS) and after["members"] == set()
    assert api.get("/consumers/outsider").status_code == 200
