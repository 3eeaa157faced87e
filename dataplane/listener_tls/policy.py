"""Kong's TLS settings of the listeners: `ssl_cipher_suite`, `ssl_protocols`, `ssl_ciphers`,
`ssl_prefer_server_ciphers`, applied to every server context a worker builds (the default
certificate's and each SNI certificate's).

Kong's rule: a named suite (`modern`, `intermediate`, the default, `old`, `fips`) sets the
protocols, the TLS 1.2 ciphers and the server preference itself, and `ssl_protocols`,
`ssl_ciphers` and `ssl_prefer_server_ciphers` count only with `ssl_cipher_suite = custom`
(Gantry says so at notice level when one is set beside a named suite, rather than ignore it
silently). What Python's ssl module cannot choose is said too: TLS 1.3 cipher suites are
OpenSSL's defaults whatever the setting.
"""

from __future__ import annotations

import logging
import ssl
import warnings
from dataclasses import dataclass

from dataplane.conf import Conf
from dataplane.conf.errors import ConfError
from dataplane.logs import NOTICE

log = logging.getLogger("gantry.tls")

_INTERMEDIATE = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)
_OLD = (
    _INTERMEDIATE + ":ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:"
    "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA:"
    "ECDHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:AES128-GCM-SHA256:"
    "AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA"
    # Kong's old suite runs OpenSSL at security level 0, without which TLSv1 and TLSv1.1 fail
    ":@SECLEVEL=0"
)

# suite -> (protocols, TLS 1.2 ciphers or None for OpenSSL's, prefer server ciphers): Kong's
SUITES: dict[str, tuple[str, str | None, bool]] = {
    "modern": ("TLSv1.3", None, False),
    "intermediate": ("TLSv1.2 TLSv1.3", _INTERMEDIATE, False),
    "old": ("TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", _OLD, True),
    "fips": ("TLSv1.2", "TLSv1.2+FIPS:kRSA+FIPS:!eNULL:!aNULL", True),
}

VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
_ORDER = list(VERSIONS)
_EXCLUDE = {
    "TLSv1": "OP_NO_TLSv1",
    "TLSv1.1": "OP_NO_TLSv1_1",
    "TLSv1.2": "OP_NO_TLSv1_2",
    "TLSv1.3": "OP_NO_TLSv1_3",
}
_CUSTOM_ONLY = ("ssl_protocols", "ssl_ciphers", "ssl_prefer_server_ciphers")


@dataclass(frozen=True)
class TlsPolicy:
    suite: str
    protocols: tuple[str, ...]  # of VERSIONS, in order
    ciphers: str | None  # OpenSSL's cipher list for TLS 1.2 and below; None: OpenSSL's default
    prefer_server_ciphers: bool

    @classmethod
    def from_conf(cls, conf: Conf) -> TlsPolicy:
        """The listeners' TLS settings; ConfError for a value that cannot be served."""
        suite = conf.ssl_cipher_suite
        if suite == "custom":
            protocols_text = conf.ssl_protocols
            ciphers = conf.ssl_ciphers.strip() or None
            prefer = conf.ssl_prefer_server_ciphers
        elif suite in SUITES:
            protocols_text, ciphers, prefer = SUITES[suite]
        else:
            raise ConfError([f"Undefined cipher suite {suite}"])  # Kong's message
        words = protocols_text.replace(",", " ").split()
        unknown = [word for word in words if word not in VERSIONS]
        if unknown or not words:
            served = ", ".join(VERSIONS)
            raise ConfError([f"ssl_protocols: {' '.join(unknown) or 'empty'}: not a protocol served ({served})"])
        policy = cls(suite, tuple(v for v in _ORDER if v in words), ciphers, prefer)
        try:
            policy.apply(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        except (ssl.SSLError, ValueError) as err:
            what = "ssl_ciphers" if suite == "custom" else f"ssl_cipher_suite = {suite}"
            raise ConfError([f"{what}: OpenSSL accepts none of the ciphers {ciphers!r}: {err}"]) from None
        return policy

    def apply(self, context: ssl.SSLContext) -> None:
        """Set the protocols, ciphers and preference on a server context."""
        first, last = self.protocols[0], self.protocols[-1]
        holes = [v for v in _ORDER[_ORDER.index(first) : _ORDER.index(last) + 1] if v not in self.protocols]
        with warnings.catch_warnings():  # Python deprecates TLSv1, TLSv1.1 and OP_NO_*: Kong's `old` needs them
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = VERSIONS[first]
            context.maximum_version = VERSIONS[last]
            for version in holes:
                context.options |= getattr(ssl, _EXCLUDE[version])
        if self.ciphers is not None:
            context.set_ciphers(self.ciphers)
        if self.prefer_server_ciphers:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE

    def report(self, conf: Conf) -> None:
        """Say at notice level what the settings do not do (once per node, by the supervisor)."""
        if self.suite != "custom":
            for key in _CUSTOM_ONLY:
                if conf.source(key) != "default":
                    log.log(
                        NOTICE,
                        "%s is ignored: ssl_cipher_suite = %s sets the protocols (%s), ciphers and "
                        "preference itself; set ssl_cipher_suite = custom to choose them",
                        key,
                        self.suite,
                        " ".join(self.protocols),
                    )
        if "TLSv1.3" in self.protocols and self.suite == "custom" and self.ciphers:
            log.log(
                NOTICE,
                "ssl_ciphers applies to TLSv1.2 and below; TLSv1.3 connections use OpenSSL's "
                "default TLSv1.3 cipher suites (they cannot be chosen here)",
            )


def report_http2(listen_key: str, listeners: tuple) -> None:
    """An `http2` flag on a listener: HTTP/2 is not served, say so rather than ignore it."""
    for listener in listeners:
        if listener.http2:
            log.log(
                NOTICE,
                "%s %s: the http2 flag is ignored, HTTP/2 is not served (clients get HTTP/1.1; "
                "ALPN offers http/1.1 only)",
                listen_key,
                listener.listener,
            )


def report_status_listen(listeners: tuple) -> None:
    """What the status API does not serve of `status_listen`: TLS, and entries past the first."""
    if not listeners:
        return
    first = listeners[0]
    if first.ssl:
        log.warning(
            "status_listen %s: ssl is not served, the status API answers there without TLS "
            "(it shows no secret; keep it on loopback or a private network)",
            first.listener,
        )
    report_http2("status_listen", listeners[:1])
    if len(listeners) > 1:
        log.warning(
            "status_listen: only the first entry (%s) is served; ignored: %s",
            first.listener,
            ", ".join(listener.listener for listener in listeners[1:]),
        )
