"""A raw-socket HTTP/1.1 upstream for framing tests, in threads of the test process, on 127.0.0.1.

It keeps every byte each connection brought, in order, parses them strictly (httptools, no
leniency flags) into requests, and answers each complete request either with an echo of what it
parsed (JSON, which identifies the connection and the request) or with the raw bytes scripted
for its path, written as they are in one send. A parse error stops the answers on that
connection but not the log: what the gateway sends next, and when it closes, still show.

Every received piece and every request carries a number from one sequence, so that a test can
take a ``mark()`` and ask what arrived after it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time

import httptools

from tests.support.waiting import wait_for


class Request:
    """One request as the upstream parsed it; ``complete`` is False while (or if forever) its
    head or body is unfinished."""

    def __init__(self, conn: int, seq: int) -> None:
        self.conn = conn
        self.seq = seq
        self.method = ""
        self.target = ""
        self.version = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.head_complete = False
        self.complete = False
        self.upgrade = False  # httptools stopped after it (Upgrade or CONNECT)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def echo(self) -> dict:
        return {
            "conn": self.conn,
            "seq": self.seq,
            "method": self.method,
            "target": self.target,
            "version": self.version,
            "headers": self.headers,
            "body_size": len(self.body),
            "body_sha256": hashlib.sha256(self.body).hexdigest(),
        }

    def __repr__(self) -> str:
        state = "complete" if self.complete else "head only" if self.head_complete else "partial"
        return f"<{self.method} {self.target} conn={self.conn} seq={self.seq} {state} body={len(self.body)}>"


class Connection:
    """What one connection from the gateway brought."""

    def __init__(self, ident: int, sock: socket.socket) -> None:
        self.id = ident
        self.sock = sock
        self.pieces: list[tuple[int, bytes]] = []  # (seq, bytes) per recv
        self.requests: list[Request] = []
        self.error: str | None = None
        self.eof = False  # the gateway closed (or reset) its side

    @property
    def data(self) -> bytes:
        return b"".join(piece for _, piece in self.pieces)

    def __repr__(self) -> str:
        return f"<conn {self.id} {len(self.data)} bytes {self.requests} error={self.error} eof={self.eof}>"


class RawUpstream:
    def __init__(self, scripts: dict[str, bytes] | None = None) -> None:
        """``scripts``: path -> the raw bytes answered to a request for it (query ignored)."""
        self.scripts = dict(scripts or {})
        self.lock = threading.Lock()
        self.seq = 0
        self.connections: list[Connection] = []
        self.last_activity = time.monotonic()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    # -- what the tests read -----------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def mark(self) -> int:
        with self.lock:
            return self._next()

    def requests_since(self, mark: int) -> list[Request]:
        with self.lock:
            return sorted((r for c in self.connections for r in c.requests if r.seq > mark), key=lambda r: r.seq)

    def requests_for(self, path: str) -> list[Request]:
        with self.lock:
            return [r for c in self.connections for r in c.requests if r.path == path]

    def bytes_since(self, mark: int) -> int:
        with self.lock:
            return sum(len(piece) for c in self.connections for seq, piece in c.pieces if seq > mark)

    def connections_since(self, mark: int) -> list[Connection]:
        """The connections that brought anything after ``mark``."""
        with self.lock:
            return [c for c in self.connections if any(seq > mark for seq, _ in c.pieces)]

    def connection(self, ident: int) -> Connection:
        with self.lock:
            return self.connections[ident]

    def settle(self, quiet: float = 0.03, timeout: float = 5.0) -> None:
        """Wait until nothing has arrived for ``quiet`` seconds: bytes the gateway wrote just
        before answering its client are read and parsed by then."""
        wait_for(
            lambda: time.monotonic() - self.last_activity >= quiet,
            timeout,
            interval=quiet / 3,
            message=f"{quiet} s without a byte from the gateway",
        )

    def stop(self) -> None:
        self.running = False
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() that close() alone would not
        self.listener.close()
        with self.lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)

    # -- serving -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while self.running:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                conn = Connection(len(self.connections), sock)
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        reader = _Reader(self, conn)
        with conn.sock:
            while True:
                try:
                    data = conn.sock.recv(1 << 16)
                except OSError:
                    data = b""
                with self.lock:
                    self.last_activity = time.monotonic()
                    if not data:
                        conn.eof = True
                        return
                    conn.pieces.append((self._next(), data))
                answers = reader.feed(data)
                try:
                    for answer in answers:
                        conn.sock.sendall(answer)
                except OSError:
                    pass  # the gateway is gone; its EOF ends the loop

    def answer(self, request: Request) -> bytes:
        scripted = self.scripts.get(request.path)
        if scripted is not None:
            return scripted
        body = json.dumps(request.echo()).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        return head if request.method == "HEAD" else head + body


class _Reader:
    """httptools callbacks for one connection; ``feed`` returns the answers it made ready."""

    def __init__(self, server: RawUpstream, conn: Connection) -> None:
        self.server = server
        self.conn = conn
        self.parser = httptools.HttpRequestParser(self)
        self.current: Request | None = None
        self.ready: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        while data and self.conn.error is None:
            try:
                self.parser.feed_data(data)
                data = b""
            except httptools.HttpParserUpgrade as upgrade:
                # the request ended at its head (or body); what follows is parsed as HTTP again,
                # so that a request hidden behind an Upgrade would show as executed
                offset = upgrade.args[0] if upgrade.args else len(data)
                with self.server.lock:
                    if self.conn.requests:
                        self.conn.requests[-1].upgrade = True
                self.parser = httptools.HttpRequestParser(self)
                data = data[offset:]
            except httptools.HttpParserError as err:
                with self.server.lock:
                    self.conn.error = f"{type(err).__name__}: {err}"
        ready, self.ready = self.ready, []
        return ready

    def on_message_begin(self) -> None:
        with self.server.lock:
            self.current = Request(self.conn.id, self.server._next())
            self.conn.requests.append(self.current)

    def on_url(self, url: bytes) -> None:
        self.current.target += url.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.current.method = self.parser.get_method().decode("latin-1")
        self.current.version = self.parser.get_http_version()
        self.current.head_complete = True

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        request, self.current = self.current, None
        request.complete = True
        self.ready.append(self.server.answer(request))
