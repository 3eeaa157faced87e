"""The data plane's cluster settings from kong.conf, and the TLS channel they describe.

cluster_mtls = shared: the node presents `cluster_cert` and trusts only that same certificate,
checked against the name "kong_clustering" (Kong's shared-mode name, the CN of the certificate
`kong hybrid gen_cert` writes). pki: it presents `cluster_cert` and trusts `cluster_ca_cert`,
checking `cluster_server_name` (or the control plane's host when that is empty).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import grpc

from dataplane.conf import Conf

SHARED_SERVER_NAME = "kong_clustering"

# gRPC refuses messages over 4 MiB by default; a full config has no such ceiling here.
_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    # Reconnecting is ours to schedule (back-off, fail-over): one attempt per channel.
    ("grpc.enable_retries", 0),
)


class ClusterSettingsError(Exception):
    """The cluster keys of kong.conf cannot make a connection (a missing or unreadable file)."""


@dataclass(frozen=True, slots=True)
class ControlPlane:
    host: str
    port: int
    server_name: str  # what the control plane's certificate must match

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    control_planes: tuple[ControlPlane, ...]
    mtls: str
    cert: bytes
    key: bytes
    trusted: bytes  # PEM the control plane's certificate must chain to
    labels: dict[str, str]
    hostname: str

    @classmethod
    def from_conf(cls, conf: Conf) -> ClusterSettings:
        """Read the certificates now, so a wrong path stops the start instead of every connect."""
        mtls = conf.cluster_mtls
        if mtls not in ("shared", "pki"):
            raise ClusterSettingsError(f"cluster_mtls must be 'shared' or 'pki', not '{mtls}'")
        cert = _read("cluster_cert", conf.cluster_cert)
        key = _read("cluster_cert_key", conf.cluster_cert_key)
        trusted = cert if mtls == "shared" else _read("cluster_ca_cert", conf.cluster_ca_cert)
        planes = tuple(
            ControlPlane(
                a.host, a.port, SHARED_SERVER_NAME if mtls == "shared" else (conf.cluster_server_name or a.host)
            )
            for a in conf.cluster_control_plane
        )
        return cls(planes, mtls, cert, key, trusted, dict(conf.cluster_dp_labels), socket.gethostname())

    def channel(self, plane: ControlPlane) -> grpc.aio.Channel:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.trusted, private_key=self.key, certificate_chain=self.cert
        )
        options = (*_CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", plane.server_name))
        return grpc.aio.secure_channel(str(plane), credentials, options=options)


def _read(key: str, path: str | None) -> bytes:
    if not path:
        raise ClusterSettingsError(f"{key} must be set when role = data_plane")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise ClusterSettingsError(f"{key}: cannot read {path}: {err.strerror}") from None
