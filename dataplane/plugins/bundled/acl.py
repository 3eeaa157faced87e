"""acl: requests allowed or refused by the groups of the authenticated consumer (Kong's
kong/plugins/acl: its fields, priority, statuses, messages and headers).

A consumer's groups are its ``acls`` entities (``kong.db.acls.each_for_consumer``, indexed once
per config version). Groups an authentication plugin found itself (``authenticated_groups`` in
``kong.ctx.shared``, else in ``ngx.ctx`` through ``kong.nginx.set_ctx``) are used instead when no
credential identified a consumer (none, or the anonymous one), or always with
``always_use_authenticated_groups``, as in Kong. With ``include_consumer_groups`` (Kong 3.4+'s
field) the names of the consumer's consumer groups count as groups too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataplane.schema import Field
from dataplane.schema.checks import Custom
from dataplane.schema.fields import record

priority = 950
version = "3.10.0"
no_consumer = True  # Kong's acl cannot be scoped to a consumer either

FORBIDDEN = "You cannot consume this service"
# Kong names the plugin entity's fields from its top; Gantry checks the config record, so the
# messages keep Kong's words
ONLY_ONE = "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"
AT_LEAST_ONE = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"


def _consumer_groups_known(include: bool) -> str | None:
    """include_consumer_groups is refused, not ignored, where the configuration cannot hold
    consumer groups (a node whose schemas have no ``consumer_group_consumers``)."""
    from dataplane.schema.entities import ENTITIES

    if include and "consumer_group_consumers" not in ENTITIES:
        return "include_consumer_groups needs consumer groups, which this node's schemas do not have"
    return None


def _only_one(config: dict[str, Any]) -> str | None:
    return None if bool(config.get("allow")) != bool(config.get("deny")) else ONLY_ONE


def _at_least_one(config: dict[str, Any]) -> str | None:
    return None if config.get("allow") or config.get("deny") else AT_LEAST_ONE


Schema = record(
    ("allow", Field("array", elements=Field("string"))),
    ("deny", Field("array", elements=Field("string"))),
    ("hide_groups_header", Field("boolean", required=True, default=False)),
    # Kong Enterprise's (3.4+): the names of the consumer's consumer groups count as groups
    ("include_consumer_groups", Field("boolean", default=False, custom_validator=_consumer_groups_known)),
    ("always_use_authenticated_groups", Field("boolean", required=True, default=False)),
    required=True,
    # Kong's only_one_of then at_least_one_of: neither list set fails both
    entity_checks=(Custom(("allow", "deny"), _only_one), Custom(("allow", "deny"), _at_least_one)),
)


class Plugin:
    def __init__(self, config: dict[str, Any]) -> None:
        deny = config.get("deny") or []
        self.deny = bool(deny)  # Kong: a deny list makes it a deny rule, else an allow rule
        self.groups = frozenset(deny if self.deny else config.get("allow") or ())
        self.hide = bool(config.get("hide_groups_header"))
        self.always_authenticated = bool(config.get("always_use_authenticated_groups"))
        self.consumer_groups = bool(config.get("include_consumer_groups"))

    def access(self, kong: Any) -> None:
        consumer = kong.client.get_consumer()
        credential = kong.client.get_credential()
        consumer_id = _consumer_id(consumer, credential)
        groups: list[str] | None = None
        header = "X-Consumer-Groups"
        if consumer_id is None or credential is None or self.always_authenticated:
            groups = _authenticated_groups(kong)
            if groups is not None:
                header = "X-Authenticated-Groups"
        if groups is None:
            if consumer_id is None:
                self._unidentified(kong, credential)
                return
            groups = self._consumer_groups(kong, consumer_id)
            if not groups and not self.deny:
                self._unidentified(kong, credential)
                return
        if self.groups.isdisjoint(groups) != self.deny:
            kong.response.error(403, FORBIDDEN)
            return
        if not self.hide:
            # an empty list clears the header, as setting nginx's header to "" does in Kong
            value = ", ".join(groups)
            if value:
                kong.service.request.set_header(header, value)
            else:
                kong.service.request.clear_header(header)

    def _unidentified(self, kong: Any, credential: Any) -> None:
        """Kong's answer when there are no groups to judge: 403 to a client a credential
        identified, 401 to the others."""
        if credential is not None:
            kong.response.error(403, FORBIDDEN)
        else:
            kong.response.error(401)

    def _consumer_groups(self, kong: Any, consumer_id: str) -> list[str]:
        names = [
            acl["group"] for acl in kong.db.acls.each_for_consumer(consumer_id) if isinstance(acl.get("group"), str)
        ]
        if self.consumer_groups:
            for name in _consumer_group_names(kong, consumer_id):
                if name not in names:
                    names.append(name)
        return names


def _consumer_id(consumer: Any, credential: Any) -> str | None:
    """Kong's current consumer: the authenticated consumer's id, else the credential's."""
    if isinstance(consumer, dict) and consumer.get("id"):
        return str(consumer["id"])
    if isinstance(credential, dict) and credential.get("consumer_id"):
        return str(credential["consumer_id"])
    return None


def _authenticated_groups(kong: Any) -> list[str] | None:
    """The groups another plugin authenticated (Kong reads kong.ctx.shared, then ngx.ctx);
    None when there are none, [] when the list is empty."""
    groups = kong.ctx.shared.get("authenticated_groups")
    if not isinstance(groups, (list, tuple)):
        groups = kong.nginx.get_ctx("authenticated_groups")
        if groups is None:
            return None
        if not isinstance(groups, (list, tuple)):
            kong.log.warn("invalid authenticated_groups, a table was expected")
            return None
    return [str(group) for group in groups]


def _consumer_group_names(kong: Any, consumer_id: str) -> Iterable[str]:
    """The names of the consumer groups a consumer belongs to, from the configuration's
    memberships (``consumer_group_consumers``); none when it has no such entities."""
    for member in kong.db.consumer_group_consumers.each_for_consumer(consumer_id):
        group_ref = member.get("consumer_group")
        group_id = group_ref.get("id") if isinstance(group_ref, dict) else group_ref
        group = kong.db.consumer_groups.select(group_id) if group_id else None
        if group is not None and isinstance(group.get("name"), str):
            yield group["name"]
