"""The TLS end of the cluster listener.

gRPC's own TLS refuses a data plane with no, a wrong or a foreign certificate inside its C
core, where Python never learns of it, so nobody could say why a data plane cannot connect.
The listener therefore terminates TLS here, with Python's ssl (OpenSSL): every refusal is
logged with the peer's address and the reason, and only authenticated connections are
relayed, in plain HTTP/2, to the gRPC server on a loopback port. Each relayed connection is
recorded by the local port it comes from, so the RPC learns the data plane's address and
certificate (`peer_for`) and rejects connections that did not come through here.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass

from .certs import ClusterTls, expiry

log = logging.getLogger("controlplane.cluster")

HANDSHAKE_TIMEOUT = 10.0
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Peer:
    ip: str
    cert_expiry: int  # epoch seconds


def _handshake_failure(exc: BaseException, mode: str) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"TLS handshake not completed within {HANDSHAKE_TIMEOUT:g} seconds"
    if isinstance(exc, ssl.SSLCertVerificationError):
        trusted = (
            "the cluster certificate (cluster_mtls = shared)"
            if mode == "shared"
            else "the cluster CA (cluster_ca_cert)"
        )
        return (
            f"client certificate not trusted: {exc.verify_message}; only certificates issued by {trusted} are accepted"
        )
    reason = getattr(exc, "reason", None)
    if reason in ("PEER_DID_NOT_RETURN_A_CERTIFICATE", "NO_CERTIFICATE_RETURNED"):
        return "data plane presented no client certificate (set cluster_cert and cluster_cert_key)"
    return f"TLS handshake failed: {reason or exc}"


class TlsFront:
    def __init__(self, tls: ClusterTls, backend_port: int) -> None:
        self._tls = tls
        self._backend_port = backend_port
        self._peers: dict[int, Peer] = {}  # local port of the relayed connection -> peer
        self._acceptors: list[asyncio.Task] = []
        self._sockets: list[socket.socket] = []
        self._relays: set[asyncio.Task] = set()

    async def start(self, sockets: list[socket.socket]) -> None:
        self._sockets = sockets
        self._acceptors = [asyncio.ensure_future(self._accept_loop(sock)) for sock in sockets]

    async def close(self) -> None:
        for task in [*self._acceptors, *self._relays]:
            task.cancel()
        await asyncio.gather(*self._acceptors, *self._relays, return_exceptions=True)
        for sock in self._sockets:
            sock.close()

    def peer_for(self, grpc_peer: str) -> Peer | None:
        """The data plane behind a gRPC peer string ("ipv4:127.0.0.1:<port>")."""
        host, _, port = grpc_peer.rpartition(":")
        if host != "ipv4:127.0.0.1" or not port.isdigit():
            return None
        return self._peers.get(int(port))

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:  # e.g. out of file descriptors: keep listening
                log.error("cluster listener cannot accept a connection: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = asyncio.ensure_future(self._serve(conn))
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)

    async def _serve(self, conn: socket.socket) -> None:
        ip, port = conn.getpeername()[:2]
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=CHUNK)
        protocol = asyncio.StreamReaderProtocol(reader)
        # The handshake runs inside this call, so its failure reaches this code (and the log).
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self._tls.context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (TimeoutError, ssl.SSLError, OSError) as exc:
            log.warning(
                "refused a data plane connection from %s:%s: %s", ip, port, _handshake_failure(exc, self._tls.mode)
            )
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        refusal = self._tls.refusal(der)
        if refusal:
            log.warning("refused a data plane connection from %s:%s: %s", ip, port, refusal)
            writer.transport.abort()
            return
        try:
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self._backend_port)
        except OSError as exc:
            log.error("cluster listener cannot reach its gRPC server: %s", exc)
            writer.transport.abort()
            return
        local_port = backend_writer.get_extra_info("sockname")[1]
        self._peers[local_port] = Peer(ip, expiry(der))
        try:
            await _relay(reader, writer, backend_reader, backend_writer)
        finally:
            del self._peers[local_port]


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass  # the other side went away: the relay ends


async def _relay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    backend_reader: asyncio.StreamReader,
    backend_writer: asyncio.StreamWriter,
) -> None:
    copies = [
        asyncio.ensure_future(_copy(reader, backend_writer)),
        asyncio.ensure_future(_copy(backend_reader, writer)),
    ]
    try:
        await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in copies:
            task.cancel()
        await asyncio.gather(*copies, return_exceptions=True)
        for w in (writer, backend_writer):
            w.transport.abort()
