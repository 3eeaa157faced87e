"""Which data planes may receive configuration, with Kong's rules and wording
(kong/clustering/compat): the same major version and a minor no newer than the control
plane's; every plugin the control plane runs that the config uses present on the data plane,
at the same major version and a minor no newer than the control plane's. Plugin versions are
each plugin's own (`PluginSpec.version`), as both sides' registries load them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NORMAL = "normal"
UNKNOWN = "unknown"
KONG_VERSION_INCOMPATIBLE = "kong_version_incompatible"
PLUGIN_SET_INCOMPATIBLE = "plugin_set_incompatible"
PLUGIN_VERSION_INCOMPATIBLE = "plugin_version_incompatible"
SYNC_STATUSES = (NORMAL, UNKNOWN, KONG_VERSION_INCOMPATIBLE, PLUGIN_SET_INCOMPATIBLE, PLUGIN_VERSION_INCOMPATIBLE)

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?")

# What the flat config gained after data planes of earlier builds were deployed: such a data
# plane refuses an entity type or a field it does not know, and with it the whole config. So
# what is sent to data planes leaves them out while unused, as Kong leaves out what an older
# data plane lacks: a section of these types when it is empty, these fields when null. A
# config without credentials of those types or consumer groups is then exactly what it was
# before they existed (same hashes, readable by any data plane); one using them needs data
# planes that know them.
ADDED_TYPES = (
    "basicauth_credentials",
    "acls",
    "jwt_secrets",
    "hmacauth_credentials",
    "consumer_groups",
    "consumer_group_consumers",
)
ADDED_FIELDS: dict[str, tuple[str, ...]] = {"plugins": ("consumer_group",)}


def sent_form(entity_type: str, row: dict) -> dict:
    """`row` as data planes get it (and as the config hash covers it): `ADDED_FIELDS` left
    out when null."""
    added = ADDED_FIELDS.get(entity_type)
    if not added:
        return row
    return {k: v for k, v in row.items() if v is not None or k not in added}


def sent_sections(config: Mapping[str, Mapping[str, dict]]) -> Iterable[str]:
    """The entity types a full config carries: every one, but `ADDED_TYPES` only when used."""
    return (name for name, section in config.items() if section or name not in ADDED_TYPES)


@dataclass(frozen=True)
class Refused:
    sync_status: str
    reason: str


def _major_minor(version: str) -> tuple[int, int] | None:
    match = _VERSION.match(version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_version(dp: str, cp: str) -> Refused | None:
    dp_mm, cp_mm = _major_minor(dp), _major_minor(cp)
    assert cp_mm is not None, f"control plane version '{cp}' is not major.minor.patch"
    if dp_mm is None or dp_mm[0] != cp_mm[0]:
        return Refused(
            KONG_VERSION_INCOMPATIBLE,
            f"data plane version {dp or '(none)'} is incompatible with control plane "
            f"version {cp} ({cp_mm[0]}.x.y are accepted)",
        )
    if dp_mm[1] > cp_mm[1]:
        return Refused(
            KONG_VERSION_INCOMPATIBLE, f"data plane version {dp} is incompatible with older control plane version {cp}"
        )
    return None


def check_plugins(
    dp_plugins: Mapping[str, str], configured: Iterable[str], cp_plugins: Mapping[str, str]
) -> Refused | None:
    """`configured`: plugin names in the config to push; `dp_plugins` and `cp_plugins`: name
    to version of the plugins each side runs. As in Kong, a configured plugin the control
    plane does not run is not its to judge, and a version that is not major.minor on either
    side is not compared."""
    for name in sorted(set(configured).intersection(cp_plugins)):
        cp = cp_plugins[name]
        if name not in dp_plugins:
            return Refused(
                PLUGIN_SET_INCOMPATIBLE,
                f"configured {name} plugin {cp} is missing from data plane"
                if _major_minor(cp)
                else f"configured {name} plugin is missing from data plane",
            )
        dp_mm, cp_mm = _major_minor(dp_plugins[name]), _major_minor(cp)
        if dp_mm is not None and cp_mm is not None and (dp_mm[0] != cp_mm[0] or dp_mm[1] > cp_mm[1]):
            return Refused(
                PLUGIN_VERSION_INCOMPATIBLE,
                f"configured data plane {name} plugin version {dp_plugins[name]} is different to "
                f"control plane plugin version {cp}",
            )
    return None


def plugin_notes(dp_plugins: Mapping[str, str], cp_plugins: Mapping[str, str]) -> list[tuple[int, str]]:
    """What Kong logs when a data plane connects, before any config is judged: each plugin the
    control plane runs that the data plane lacks (a warning: a config using it will not be
    sent), and versions that differ (a warning for another major, a note for another minor)."""
    notes: list[tuple[int, str]] = []
    for name in sorted(cp_plugins):
        cp = cp_plugins[name]
        if name not in dp_plugins:
            notes.append((logging.WARNING, f"{name} plugin {cp} is missing from data plane"))
            continue
        dp_mm, cp_mm = _major_minor(dp_plugins[name]), _major_minor(cp)
        if dp_mm is None or cp_mm is None:
            continue
        different = (
            f"data plane {name} plugin version {dp_plugins[name]} is different to control plane plugin version {cp}"
        )
        if dp_mm[0] != cp_mm[0]:
            notes.append((logging.WARNING, different))
        elif dp_mm[1] != cp_mm[1]:
            notes.append((logging.INFO, different))
    return notes
