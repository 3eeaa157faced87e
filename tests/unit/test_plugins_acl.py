"""The acl plugin in-process (Kong's spec/03-plugins/18-acl behaviours): allow and deny by the
consumer's groups or the groups an authentication plugin found, the 401/403 answers, the
X-Consumer-Groups and X-Authenticated-Groups headers, and consumer groups as groups."""

from __future__ import annotations

import types
from typing import Any

import pytest

from dataplane.plugins.bundled import acl, key_auth
from dataplane.plugins.testing import PluginConfigError, PluginHarness, Request
from dataplane.schema import entities as schema_entities

FORBIDDEN = "You cannot consume this service"


def consumer(n: int, username: str) -> dict[str, Any]:
    return {"id": f"ac000000-0000-4000-8000-00000000000{n}", "username": username}


NOBODY, ADMIN = consumer(1, "consumer1"), consumer(2, "consumer2")
PRO, ANONYMOUS = consumer(3, "consumer3"), consumer(4, "anonymous")
CONSUMERS = [NOBODY, ADMIN, PRO, ANONYMOUS]


def key(n: int, value: str, owner: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"ac100000-0000-4000-8000-00000000000{n}", "key": value, "consumer": {"id": owner["id"]}}


def group(n: int, name: str, owner: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"ac200000-0000-4000-8000-00000000000{n}", "group": name, "consumer": {"id": owner["id"]}}


ENTITIES = {
    "consumers": CONSUMERS,
    "keyauth_credentials": [key(1, "apikey123", NOBODY), key(2, "apikey124", ADMIN), key(3, "apikey125", PRO)],
    "acls": [group(1, "admin", ADMIN), group(2, "pro", PRO), group(3, "hello", PRO), group(4, "anonymous", ANONYMOUS)],
}


def groups_setter(where: str, groups: Any, credential: bool = False) -> types.ModuleType:
    """A plugin before acl that leaves authenticated groups where Kong's spec ctx-checker does."""
    module = types.ModuleType("groups_setter")
    module.name = "groups-setter"  # type: ignore[attr-defined]
    module.priority = 2000  # type: ignore[attr-defined]

    class Plugin:
        def __init__(self, config: dict[str, Any]) -> None:
            pass

        def access(self, kong: Any) -> None:
            if where == "shared":
                kong.ctx.shared["authenticated_groups"] = groups
            elif where == "ngx":
                kong.nginx.set_ctx("authenticated_groups", groups)
            if credential:
                kong.client.authenticate(None, {"id": "dummy-credential"})

    module.Plugin = Plugin  # type: ignore[attr-defined]
    return module


def run(
    apikey: str | None = None,
    setter: types.ModuleType | None = None,
    entities: dict[str, Any] | None = None,
    key_config: dict[str, Any] | None = None,
    **config: Any,
) -> Any:
    plugins: list[Any] = [acl, key_auth]
    configs: dict[str, Any] = {"acl": config, "key-auth": key_config or {}}
    if setter is not None:
        plugins.append(setter)
        configs["groups-setter"] = {}
    if apikey is None and key_config is None:
        plugins.remove(key_auth)
        del configs["key-auth"]
    harness = PluginHarness(*plugins, entities=entities or ENTITIES)
    headers = {"apikey": apikey} if apikey else {}
    return harness.run(Request("GET", "/request", headers), configs=configs, reraise=False)


def forbidden(result: Any) -> None:
    assert result.response.status == 403
    assert result.response.json()["message"] == FORBIDDEN
    assert result.upstream is None


def test_schema() -> None:
    assert (acl.priority, acl.version, acl.no_consumer) == (950, "3.10.0", True)
    with pytest.raises(PluginConfigError) as error:
        run("apikey124")
    assert "at least one of these fields must be non-empty: 'config.allow', 'config.deny'" in str(error.value.errors)
    with pytest.raises(PluginConfigError) as error:
        run("apikey124", allow=["admin"], deny=["pro"])
    assert "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'" in str(error.value.errors)
    with pytest.raises(PluginConfigError):
        run("apikey124", allow="admin")


def test_allowed_consumer_gets_x_consumer_groups() -> None:
    result = run("apikey124", allow=["admin"])
    assert result.response.status == 200
    assert result.upstream.headers["x-consumer-groups"] == "admin"
    assert "x-authenticated-groups" not in result.upstream.headers
    result = run("apikey125", allow=["pro"])
    assert result.upstream.headers["x-consumer-groups"] == "pro, hello"


def test_not_allowed_and_denied_are_403() -> None:
    forbidden(run("apikey124", allow=["pro"]))
    forbidden(run("apikey125", deny=["hello"]))
    forbidden(run("apikey123", allow=["admin"]))  # a consumer without groups, identified by a credential


def test_not_denied_passes_with_its_groups() -> None:
    result = run("apikey124", deny=["pro"])
    assert (result.response.status, result.upstream.headers["x-consumer-groups"]) == (200, "admin")
    # a consumer without any group is not denied, and gets no header
    result = run("apikey123", deny=["pro"])
    assert result.response.status == 200
    assert "x-consumer-groups" not in result.upstream.headers


def test_hide_groups_header() -> None:
    result = run("apikey124", allow=["admin"], hide_groups_header=True)
    assert result.response.status == 200
    assert "x-consumer-groups" not in result.upstream.headers


def test_the_client_cannot_send_its_own_groups_header_past_a_hidden_one() -> None:
    result = Request("GET", "/request", {"apikey": "apikey124", "X-Consumer-Groups": "forged"})
    harness = PluginHarness(acl, key_auth, entities=ENTITIES)
    answer = harness.run(result, configs={"acl": {"allow": ["admin"]}, "key-auth": {}})
    assert answer.upstream.headers["x-consumer-groups"] == "admin"


def test_no_authentication_plugin_is_401() -> None:
    result = run(allow=["admin"])
    assert result.response.status == 401
    assert result.response.json()["message"] == "Unauthorized"
    result = run(deny=["admin"])
    assert result.response.status == 401


def test_a_credential_without_consumer_nor_groups_is_403() -> None:
    forbidden(run(setter=groups_setter("none", None, credential=True), allow=["admin"]))


@pytest.mark.parametrize("where", ["shared", "ngx"])
def test_authenticated_groups_without_a_consumer(where: str) -> None:
    result = run(setter=groups_setter(where, ["admin"]), allow=["admin"])
    assert result.response.status == 200
    assert result.upstream.headers["x-authenticated-groups"] == "admin"
    assert "x-consumer-groups" not in result.upstream.headers
    forbidden(run(setter=groups_setter(where, ["admin"]), deny=["admin"]))
    forbidden(run(setter=groups_setter(where, ["admin"]), allow=["pro"]))
    result = run(setter=groups_setter(where, ["pro", "hello"]), allow=["hello"], hide_groups_header=True)
    assert result.response.status == 200
    assert "x-authenticated-groups" not in result.upstream.headers


def test_empty_authenticated_groups() -> None:
    forbidden(run(setter=groups_setter("shared", []), allow=["admin"]))
    result = run(setter=groups_setter("shared", []), deny=["admin"])
    assert result.response.status == 200
    assert "x-authenticated-groups" not in result.upstream.headers


def test_authenticated_groups_that_are_not_a_list_are_ignored_with_a_warning() -> None:
    result = run(setter=groups_setter("ngx", "admin"), allow=["admin"])
    assert result.response.status == 401
    assert any("invalid authenticated_groups" in text for _level, text in result.logs), result.logs


def test_authenticated_groups_override_the_anonymous_consumers() -> None:
    anonymous = {"anonymous": ANONYMOUS["id"]}
    # the anonymous consumer's own groups
    result = run(key_config=anonymous, allow=["anonymous"])
    assert (result.response.status, result.upstream.headers["x-consumer-groups"]) == (200, "anonymous")
    # authenticated groups win over the anonymous consumer's (no credential)
    result = run(key_config=anonymous, setter=groups_setter("shared", ["admin"]), allow=["admin"])
    assert result.response.status == 200
    assert result.upstream.headers["x-authenticated-groups"] == "admin"
    assert "x-consumer-groups" not in result.upstream.headers


def test_always_use_authenticated_groups() -> None:
    setter = groups_setter("shared", ["pro"])
    # a consumer identified by its credential: its own groups unless always_use_authenticated_groups
    result = run("apikey124", setter=setter, allow=["admin"])
    assert result.upstream.headers["x-consumer-groups"] == "admin"
    forbidden(run("apikey124", setter=setter, allow=["admin"], always_use_authenticated_groups=True))
    result = run("apikey124", setter=setter, allow=["pro"], always_use_authenticated_groups=True)
    assert result.upstream.headers["x-authenticated-groups"] == "pro"
    # without authenticated groups it falls back to the consumer's
    result = run("apikey124", allow=["admin"], always_use_authenticated_groups=True)
    assert result.upstream.headers["x-consumer-groups"] == "admin"


def test_groups_are_looked_up_per_consumer_from_the_config_versions_index() -> None:
    many = {
        **ENTITIES,
        "acls": ENTITIES["acls"]
        + [group(9, f"g{i}", NOBODY) | {"id": f"ac300000-0000-4000-8000-{i:012d}"} for i in range(50)],
    }
    result = run("apikey123", entities=many, allow=["g49"])
    assert result.response.status == 200
    assert result.upstream.headers["x-consumer-groups"] == ", ".join(f"g{i}" for i in range(50))


@pytest.mark.skipif(
    "consumer_group_consumers" not in schema_entities.ENTITIES,
    reason="no consumer groups in the schemas",
)
def test_include_consumer_groups_counts_the_consumers_consumer_groups() -> None:
    gold = {"id": "ac400000-0000-4000-8000-000000000001", "name": "gold"}
    entities = {
        **ENTITIES,
        "consumer_groups": [gold],
        "consumer_group_consumers": [
            {"id": "ac500000-0000-4000-8000-000000000001", "consumer_group": {"id": gold["id"]},
             "consumer": {"id": ADMIN["id"]}},
        ],
    }  # fmt: skip
    forbidden(run("apikey124", entities=entities, allow=["gold"]))
    result = run("apikey124", entities=entities, allow=["gold"], include_consumer_groups=True)
    assert result.response.status == 200
    assert result.upstream.headers["x-consumer-groups"] == "admin, gold"
    forbidden(run("apikey124", entities=entities, deny=["gold"], include_consumer_groups=True))
    # a consumer in a group but without acls
    entities["consumer_group_consumers"].append(
        {
            "id": "ac500000-0000-4000-8000-000000000002",
            "consumer_group": {"id": gold["id"]},
            "consumer": {"id": NOBODY["id"]},
        }
    )
    result = run("apikey123", entities=entities, allow=["gold"], include_consumer_groups=True)
    assert (result.response.status, result.upstream.headers["x-consumer-groups"]) == (200, "gold")


def test_include_consumer_groups_is_refused_where_there_are_no_consumer_groups(monkeypatch: Any) -> None:
    known = schema_entities.ENTITIES
    without = {name: schema for name, schema in known.items() if name != "consumer_group_consumers"}
    monkeypatch.setattr(schema_entities, "ENTITIES", without)
    with pytest.raises(PluginConfigError) as error:
        run("apikey124", allow=["gold"], include_consumer_groups=True)
    assert "include_consumer_groups needs consumer groups" in str(error.value.errors)
    assert run("apikey124", allow=["admin"], include_consumer_groups=False).response.status == 200
