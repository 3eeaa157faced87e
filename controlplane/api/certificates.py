"""Kong's certificates endpoints (kong/api/routes/certificates.lua, kong/db/dao/certificates.lua):
a certificate is also named by one of its SNIs in the path, and its `snis` list is checked for
duplicates before anything is written."""

from __future__ import annotations

from typing import Any

from dataplane.schema import is_uuid

from . import errors
from .context import ApiContext

ENTITY = "certificates"


async def by_sni(api: ApiContext, name: str, *, for_put: bool = False) -> dict[str, Any] | None:
    """The certificate an SNI name belongs to. Unknown names are a 404 "SNI not found", except
    for a PUT, which creates the certificate (None here)."""
    sni = await api.store.get_by_field("snis", "name", name)
    if sni is None:
        if for_put:
            return None
        raise errors.message(404, "SNI not found")
    return await api.store.get(ENTITY, sni["certificate"]["id"])


def check_names(data: dict[str, Any]) -> None:
    """Kong refuses a `snis` list naming one SNI twice, before validating the rest."""
    names = data.get("snis")
    if not isinstance(names, list):
        return
    seen: set[str] = set()
    for name in names:
        if isinstance(name, str) and name in seen:
            raise errors.schema_violation({"snis": f"{name} is duplicated"})
        if isinstance(name, str):
            seen.add(name)


def put_body(data: dict[str, Any], key: str) -> dict[str, Any]:
    """A `PUT /certificates/{key}` body as Kong prepares it: a lone name becomes a list; an
    SNI named in the path joins a given list; no `snis` at all removes every SNI."""
    names = data.get("snis")
    if isinstance(names, str):
        names = [names]
    if not is_uuid(key) and isinstance(names, list) and key not in names:
        names = [*names, key]
    return {**data, "snis": names}


def patch_body(data: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body as Kong prepares it: a lone name becomes a list."""
    if isinstance(data.get("snis"), str):
        return {**data, "snis": [data["snis"]]}
    return data
