"""An HTTP/1.1 upstream on loopback whose answers a test scripts and changes while it runs: a
status per path (else the default), a delay before each answer, and the requests it got by
path. Its body is `{"upstream": <name>}`, as the echo upstream's names itself. Given a TLS
context it serves HTTPS, each connection's handshake under the context set when it came (a
test swaps `tls` to change the certificate while it runs)."""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
import time
from collections import Counter


class ScriptedUpstream:
    def __init__(self, name: str, status: int = 200, delay: float = 0.0, tls: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.tls = tls
        self.status = status
        self.delay = delay
        self.statuses: dict[str, int] = {}  # path -> status, before the default
        self.hits: Counter[str] = Counter()
        scripted = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                scripted.hits[self.path] += 1
                if scripted.delay:
                    time.sleep(scripted.delay)
                body = json.dumps({"upstream": scripted.name}).encode()
                self.send_response(scripted.statuses.get(self.path, scripted.status))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, object]:
                conn, address = self.socket.accept()
                if scripted.tls is None:
                    return conn, address
                # the handshake runs in the connection's thread, at its first read
                return scripted.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), address

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a refused handshake or a dropped connection: the test reads the counts

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def requests(self) -> int:
        return sum(self.hits.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
