"""The entity endpoints Kong generates from its schemas (kong/api/endpoints.lua), as data:
for every entity a collection and an entity path, and for every foreign key the nested
collection, the nested entity and the "parent of" path. Handlers and the OpenAPI document
are both built from this one list."""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.schema import ENTITIES, EntitySchema

# Kong's admin_api_name / admin_api_nested_name
_PATH_NAMES = {
    "keyauth_credentials": ("key-auths", "key-auth"),
    "basicauth_credentials": ("basic-auths", "basic-auth"),
    "jwt_secrets": ("jwts", "jwt"),
    "hmacauth_credentials": ("hmac-auths", "hmac-auth"),
}

# Paths Kong switches off (kong/api/routes/targets.lua, snis.lua): 404 as for unknown paths
DISABLED = frozenset({"/targets", "/targets/{targets}", "/targets/{targets}/upstream", "/snis/{snis}/certificate"})


@dataclass(frozen=True)
class Resource:
    entity: str  # schema and store name; also the name of its path parameter
    path: str  # collection segment: "services", "key-auths"
    nested: str  # segment under a parent: "key-auth"
    schema: EntitySchema

    @property
    def param(self) -> str:
        return self.entity


RESOURCES: dict[str, Resource] = {
    name: Resource(name, *_PATH_NAMES.get(name, (name, name)), schema) for name, schema in ENTITIES.items()
}

COLLECTION = "collection"  # /services, /services/{services}/routes
ENTITY = "entity"  # /services/{services}, /services/{services}/routes/{routes}
PARENT = "parent"  # /routes/{routes}/service: the entity a foreign key points to


@dataclass(frozen=True)
class Endpoint:
    path: str
    kind: str
    resource: Resource  # the entity read or written
    parent: Resource | None = None  # the entity the path goes through
    fk: str | None = None  # the foreign key linking `resource` to `parent` (or the reverse, for PARENT)

    def __post_init__(self) -> None:
        if (self.parent is None) != (self.fk is None):
            raise ValueError(f"{self.path}: a parent and its foreign key go together")

    @property
    def link(self) -> tuple[Resource, str] | None:
        """(`parent`, `fk`) of a path through another entity; None for a top-level path."""
        return None if self.parent is None or self.fk is None else (self.parent, self.fk)

    @property
    def methods(self) -> tuple[str, ...]:
        return ("GET", "POST") if self.kind == COLLECTION else ("GET", "PUT", "PATCH", "DELETE")


# Entities without generated endpoints: a consumer group's members are written and read
# only through Kong's own paths (controlplane/api/consumer_groups.py).
UNLISTED = frozenset({"consumer_group_consumers"})


def _endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for res in RESOURCES.values():
        if res.entity in UNLISTED:
            continue
        base = f"/{res.path}"
        own = f"{base}/{{{res.param}}}"
        out += [Endpoint(base, COLLECTION, res), Endpoint(own, ENTITY, res)]
        for fk, reference in res.schema.references:
            parent = RESOURCES[reference]
            parent_own = f"/{parent.path}/{{{parent.param}}}"
            out += [
                Endpoint(f"{own}/{fk}", PARENT, parent, res, fk),
                Endpoint(f"{parent_own}/{res.nested}", COLLECTION, res, parent, fk),
                Endpoint(f"{parent_own}/{res.nested}/{{{res.param}}}", ENTITY, res, parent, fk),
            ]
    return [e for e in out if e.path not in DISABLED]


ENDPOINTS: list[Endpoint] = _endpoints()
