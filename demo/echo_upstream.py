"""A small HTTP/1.1 upstream for the demo and the tests: it answers with what it received.

`GET /anything` answers 200 with a JSON echo of the request (method, path, query, headers, body
size). Special paths make it misbehave on purpose, so tests can check how the gateway copes:

    /status/<code>     answer with that status
    /delay/<ms>        wait before answering
    /bytes/<n>         a body of n bytes (content-length)
    /chunked/<n>       a body of n bytes, chunked in 8 KiB pieces
    /reset             close the socket without answering
    /garbage           answer bytes that are not HTTP
    /close             answer with `Connection: close` and close
    /__stats           how many requests and connections it has seen (not counted itself)

Usage: python -m demo.echo_upstream [--port N] [--name NAME] [--tls CERT KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys

import httptools
import orjson

CHUNK = b"x" * 8192


class Stats:
    __slots__ = ("requests", "connections")

    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("name", "stats", "transport", "parser", "url", "headers", "body_size", "body_hash")

    def __init__(self, name: str, stats: Stats) -> None:
        self.name = name
        self.stats = stats
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body_size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError:
            self._send(400, b'{"error":"bad request"}', close=True)

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body_size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self.url)
        path = url.path.decode("latin-1")
        if path == "/__stats":
            self._send(200, orjson.dumps({"requests": self.stats.requests, "connections": self.stats.connections}))
            return
        self.stats.requests += 1
        parts = path.split("/")
        action = parts[1] if len(parts) > 1 else ""
        arg = parts[2] if len(parts) > 2 else ""
        if action == "status" and arg.isdigit():
            self._send(int(arg), self._echo(path, url))
        elif action == "delay" and arg.isdigit():
            asyncio.get_running_loop().call_later(int(arg) / 1000, self._send, 200, self._echo(path, url))
        elif action == "bytes" and arg.isdigit():
            self._send(200, b"x" * int(arg), content_type=b"application/octet-stream")
        elif action == "chunked" and arg.isdigit():
            self._send_chunked(int(arg))
        elif action == "reset":
            self.transport.abort()
        elif action == "garbage":
            self.transport.write(b"this is not http\r\n\r\n")
            self.transport.close()
        elif action == "close":
            self._send(200, self._echo(path, url), close=True)
        else:
            self._send(200, self._echo(path, url))

    def _echo(self, path: str, url: httptools.parser.parser.URL) -> bytes:
        return orjson.dumps(
            {
                "upstream": self.name,
                "method": self.parser.get_method().decode(),
                "http_version": self.parser.get_http_version(),
                "path": path,
                "query": url.query.decode("latin-1") if url.query else None,
                "headers": self.headers,
                "body_size": self.body_size,
            }
        )

    def _send(
        self, status: int, body: bytes, *, close: bool = False, content_type: bytes = b"application/json"
    ) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        keep = not close and self.parser.should_keep_alive()
        head = b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            status,
            content_type,
            len(body),
            b"" if keep else b"Connection: close\r\n",
        )
        self.transport.writelines((head, body))
        if not keep:
            self.transport.close()

    def _send_chunked(self, size: int) -> None:
        out = [b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"]
        while size > 0:
            piece = CHUNK[: min(size, len(CHUNK))]
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
            size -= len(piece)
        out.append(b"0\r\n\r\n")
        self.transport.writelines(out)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(port: int, name: str, tls: tuple[str, str] | None = None, host: str = "127.0.0.1") -> asyncio.Server:
    """Start the echo server on host:port (port 0 picks a free one) and return it."""
    stats = Stats()
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: EchoProtocol(name, stats), host, port, ssl=context, reuse_address=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default="echo")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args(argv)
    import uvloop

    async def run() -> None:
        server = await serve(args.port, args.name, tuple(args.tls) if args.tls else None, args.host)
        port = server.sockets[0].getsockname()[1]
        print(f"echo upstream {args.name} listening on {args.host}:{port}", flush=True)
        await server.serve_forever()

    try:
        uvloop.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
