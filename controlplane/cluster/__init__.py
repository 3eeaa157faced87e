"""The control plane's side of hybrid mode: the cluster listener (mutual TLS, gRPC
`Cluster.Connect` from proto/cluster.proto), compatibility checks, configuration pushes
(full or delta) and the data-plane registry."""

from .certs import CertificateError
from .server import ClusterServer

__all__ = ["CertificateError", "ClusterServer"]
