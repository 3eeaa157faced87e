"""Parsers for the honoured keys whose values have a shape of their own."""

import base64
import binascii
import os
import re
from collections.abc import Mapping
from types import MappingProxyType

from . import types
from .addresses import HostPort, parse_host_port

DNS_RECORD_TYPES = ("LAST", "A", "AAAA", "CNAME", "SRV")


def worker_processes(value: str) -> int:
    """``auto`` (one per CPU, as nginx) or an integer of at least 1."""
    if value == "auto":
        return os.cpu_count() or 1
    try:
        return types.integer(minimum=1)(value)
    except ValueError:
        raise ValueError(f"must be 'auto' or an integer of at least 1, got '{value}'") from None


def database(value: str) -> str:
    if value == "cassandra":  # Kong's own message
        raise ValueError(
            "Cassandra as a datastore for Kong is not supported in versions 3.4 and above. Please use Postgres."
        )
    return types.enum("postgres", "off")(value)


def log_path(value: str) -> str | None:
    """``off`` or a path; nginx options after the path (a log format) are not used."""
    if value == "off":
        return None
    return types.required(types.string)(value).split()[0]


def header_buffers(value: str) -> tuple[int, int]:
    """nginx's ``large_client_header_buffers``: ``<number> <size>``."""
    parts = value.split()
    if len(parts) != 2:
        raise ValueError(f"must be '<number> <size>', got '{value}'")
    return types.integer(minimum=1)(parts[0]), types.size(minimum=1)(parts[1])


def dns_resolver(value: str) -> tuple[HostPort, ...]:
    servers = []
    for entry in types.split_list(value):
        try:
            servers.append(parse_host_port(entry, default_port=53, allow_name=False))
        except ValueError:
            # Kong's wording
            raise ValueError(
                f"must be a comma separated list in the form of IPv4/6 or IPv4/6:port, got '{entry}'"
            ) from None
    return tuple(servers)


def dns_order(value: str) -> tuple[str, ...]:
    entries = types.split_list(value)
    bad = [entry for entry in entries if entry.upper() not in DNS_RECORD_TYPES]
    if bad:
        raise ValueError(", ".join(f"invalid entry '{entry}'" for entry in bad))
    return tuple(entry.upper() for entry in entries)


def existing_file(value: str) -> str:
    if not os.path.isfile(value):
        raise ValueError(f"file does not exist: '{value}'")
    return os.path.abspath(value)


def existing_files(value: str) -> tuple[str, ...]:
    """A comma-separated list of files that must exist (certificates and keys of ssl listeners)."""
    return tuple(existing_file(entry) for entry in types.split_list(value))


def port(value: str) -> int:
    return types.integer(minimum=1, maximum=65535)(value)


def control_planes(value: str) -> tuple[HostPort, ...]:
    """One or more comma-separated ``host[:port]``, tried in turn by a data plane; without a
    port the link goes to 443, as a wss:// URL would."""
    entries = types.split_list(types.required(types.string)(value))
    if not entries:
        raise ValueError("must not be empty")
    return tuple(parse_host_port(entry, default_port=443) for entry in entries)


# Kong's label rules: 1-63 characters, alphanumerics inside `_.-`, alphanumeric at both ends;
# keys starting with `_` or `kong` are reserved.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")


def dp_labels(value: str) -> Mapping[str, str]:
    """``key:value`` pairs, comma-separated, sent by a data plane to its control plane."""
    labels: dict[str, str] = {}
    for entry in types.split_list(value):
        key, sep, label = (part.strip() for part in entry.partition(":"))
        if not sep or not _LABEL.fullmatch(key) or not _LABEL.fullmatch(label):
            raise ValueError(
                f"label '{entry}' must be 'key:value', each 1-63 letters, digits, "
                "'_', '.' or '-', starting and ending with a letter or digit"
            )
        if key.lower().startswith("kong"):
            raise ValueError(f"label key '{key}' is reserved (keys may not start with 'kong')")
        if key in labels:
            raise ValueError(f"label key '{key}' is set twice")
        labels[key] = label
    return MappingProxyType(labels)


def _certificate(entry: str) -> str:
    if entry == "system" or "-----BEGIN" in entry:
        return entry
    if os.path.exists(entry):
        return os.path.abspath(entry)
    try:
        decoded = base64.b64decode(entry, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if "-----BEGIN" not in decoded:
        raise ValueError(f"failed loading certificate from {entry}")
    return decoded


def trusted_certificates(value: str) -> tuple[str, ...]:
    """CA bundles: ``system`` (the OS store), a file path, or PEM text (plain or base64)."""
    return tuple(_certificate(entry) for entry in types.split_list(value))
