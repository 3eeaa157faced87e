"""Kong's custom validators (kong/db/schema/typedefs.lua and entity files), same messages.

Each returns None when the value is valid, else the message.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import netaddr, pem

_PATH_CHARS = re.compile(r"^/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$")
_NAME = re.compile(r"^[A-Za-z0-9.\-_~]+$")
_UTF8_NAME = re.compile(r"^[A-Za-z0-9.\-_~\u0080-\U0010ffff]+$")
_TAG = re.compile(r"^[ !-+\-.0-~\u0080-\U0010ffff]+$")
_HEADER_NAME = re.compile(r"^[a-zA-Z0-9\-_]+$")
_HTTP_TOKEN_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f \t()<>@,;:\\"/?={}\[\]]')


def host(value: str) -> str | None:
    try:
        addr = netaddr.normalize_ip(value)
    except netaddr.AddressError as e:
        return "must not have a port" if str(e) == "invalid port number" else f"invalid value: {value}"
    return "must not have a port" if addr.port is not None else None


def host_with_optional_port(value: str) -> str | None:
    try:
        netaddr.normalize_ip(value)
    except netaddr.AddressError as e:
        return str(e)
    return None


def _sni_like(value: str) -> str | None:
    try:
        addr = netaddr.normalize_ip(value)
    except netaddr.AddressError as e:
        return "must not have a port" if str(e) == "invalid port number" else f"invalid value: {value}"
    if addr.type != "name":
        return "must not be an IP"
    return "must not have a port" if addr.port is not None else None


def sni(value: str) -> str | None:
    return _sni_like(value)


def wildcard_host(value: str) -> str | None:
    idx = value.find("*")
    if idx != -1:
        if idx not in (0, len(value) - 1):
            return "wildcard must be leftmost or rightmost character"
        if value.count("*") > 1:
            return "only one wildcard must be specified"
        value = value.replace("*", "wildcard")
    return _sni_like(value)


def host_with_wildcards(value: str) -> str | None:
    return host_with_optional_port(value.replace("*", "abc"))


def ip(value: str) -> str | None:
    return None if netaddr.is_ip(value) else f"not an ip address: {value}"


def ip_or_cidr(value: str) -> str | None:
    return None if netaddr.is_ip_or_cidr(value) else f"invalid ip or cidr range: '{value}'"


def cidr_v4(value: str) -> str | None:
    return None if netaddr.is_ip_or_cidr_v4(value) else f"invalid ipv4 cidr range: '{value}'"


def _percent_error(path: str) -> str | None:
    raw = re.sub(r"%[0-9A-Fa-f]{2}", "___", path)
    i = raw.find("%")
    return None if i == -1 else f"invalid url-encoded value: '{raw[i : i + 3]}'"


def path(value: str) -> str | None:
    if not _PATH_CHARS.match(value):
        return f"invalid path: '{value}' (characters outside of the reserved list of RFC 3986 found)"
    return _percent_error(value)


def router_path(value: str) -> str | None:
    # Kong checks only the percent-encoding here, then normalisation or the regex
    err = _percent_error(value)
    if err:
        return err
    if not value.startswith("~"):
        normalized = netaddr.normalize_path(value)
        if normalized != value:
            return f"non-normalized path, consider use '{normalized}' instead"
        return None
    regex = value[1:]
    # Kong compiles with PCRE; Python's `re` approximates that dialect (PCRE's `(?<name>`
    # named groups are spelled `(?P<name>` in Python)
    try:
        re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", regex))
    except re.error as e:
        return f"invalid regex: '{regex}' (PCRE returned: {e})"
    return None


def name(value: str) -> str | None:
    if _NAME.match(value):
        return None
    return f"invalid value '{value}': it must only contain alphanumeric and '., -, _, ~' characters"


def utf8_name(value: str) -> str | None:
    if _UTF8_NAME.match(value):
        return None
    return f"invalid value '{value}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"


def tag(value: str) -> str | None:
    if _TAG.match(value):
        return None
    return f"invalid tag '{value}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"


def url(value: str) -> str | None:
    try:
        parsed = urlsplit(value)
    except ValueError as e:
        return f"could not parse url. {e}"
    if not parsed.hostname:
        return "missing host in url"
    if not parsed.scheme:
        return "missing scheme in url"
    return None


def header_name(value: str) -> str | None:
    if _HEADER_NAME.match(value):
        return None
    return f"bad header name '{value}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"


def http_token(value: str) -> str | None:
    if not _HTTP_TOKEN_FORBIDDEN.search(value):
        return None
    return (
        "contains one or more invalid characters. ASCII control characters (0-31;127), "
        'space, tab and the characters ()<>@,;:\\"/?={}[] are not allowed.'
    )


def target(value: str) -> str | None:
    try:
        netaddr.normalize_ip(value)
    except netaddr.AddressError:
        return f"Invalid target ('{value}'); not a valid hostname or ip address"
    return None


def upstream_name(value: str) -> str | None:
    try:
        addr = netaddr.normalize_ip(value)
    except netaddr.AddressError:
        return f"Invalid name ('{value}'); must be a valid hostname"
    if addr.type != "name":
        return f"Invalid name ('{value}'); no ip addresses allowed"
    if addr.port is not None:
        return f"Invalid name ('{value}'); no port allowed"
    return None


def certificate(value: str) -> str | None:
    return pem.load_certificate(value)[1]


def key(value: str) -> str | None:
    return pem.load_key(value)[1]
