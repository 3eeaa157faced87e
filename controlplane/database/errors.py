"""Typed store errors: the Admin API maps each one to Kong's error body and status."""

from __future__ import annotations


class StoreError(Exception):
    pass


class UniqueViolation(StoreError):
    def __init__(self, entity: str, fields: dict[str, object]) -> None:
        self.entity = entity
        self.fields = fields
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        super().__init__(f"UNIQUE violation detected on '{entity}' ({shown})")


class PrimaryKeyViolation(UniqueViolation):
    """An insert naming the id of a row that exists (Kong's code 3, not a unique field's 5)."""


class StillReferenced(StoreError):
    """A delete Kong's DAO refuses while another entity names this one in a list of ids (a CA
    certificate in a service's ca_certificates): `referencing` and `referencing_id` name the
    first such entity."""

    def __init__(self, entity: str, id: str, referencing: str, referencing_id: str) -> None:
        self.entity = entity
        self.id = id
        self.referencing = referencing
        self.referencing_id = referencing_id
        super().__init__(f"'{entity}' {id} is still referenced by {referencing} (id = {referencing_id})")


class ForeignKeyViolation(StoreError):
    """A row names a parent that does not exist."""

    def __init__(self, entity: str, field: str, parent_entity: str, parent_key: dict) -> None:
        self.entity = entity
        self.field = field
        self.parent_entity = parent_entity
        self.parent_key = parent_key
        super().__init__(
            f"the foreign key '{field}' of '{entity}' names a '{parent_entity}' that does not exist: {parent_key}"
        )


class ReferencedByOthers(StoreError):
    """A delete refused because rows of another entity reference this one (Kong's restrict)."""

    def __init__(self, entity: str, referencing: str) -> None:
        self.entity = entity
        self.referencing = referencing
        super().__init__(f"an existing '{referencing}' entity references this '{entity}' entity")


class SniTaken(StoreError):
    """A certificate names an SNI that another certificate has."""

    def __init__(self, name: str, certificate_id: str) -> None:
        self.name = name
        self.certificate_id = certificate_id
        super().__init__(f"{name} already associated with existing certificate '{certificate_id}'")


class ValueTooLong(StoreError):
    """A value of an indexed column (or one tag, at 1-based `position`) too long for its
    index; `limit` is in UTF-8 bytes."""

    def __init__(self, entity: str, field: str, limit: int, position: int | None = None) -> None:
        self.entity = entity
        self.field = field
        self.position = position
        self.limit = limit
        where = field if position is None else f"{field}[{position}]"
        super().__init__(f"'{entity}' {where} is longer than {self.limit} bytes, too long to index")


class NotFound(StoreError):
    def __init__(self, entity: str, key: dict) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"no '{entity}' with {key}")


class InvalidOffset(StoreError):
    pass


class DatabaseUnavailable(StoreError):
    """Connection refused or lost, authentication failed, or no connection free in time."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotBootstrapped(StoreError):
    def __init__(self) -> None:
        super().__init__("database needs bootstrapping; run 'controlplane migrations bootstrap'")


class MigrationsPending(StoreError):
    pass


class PluginNotEnabled(StoreError):
    """The database holds a plugin entity this node does not run (Kong's start-up check,
    kong/db/dao/plugins.lua check_db_against_config, and its message)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name} plugin is in use but not enabled")
