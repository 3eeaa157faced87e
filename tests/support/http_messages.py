"""HTTP/1.1 messages as raw bytes: a GET to send, and the responses read back, parsed strictly
(httptools, no leniency flag), for the blocking and the asyncio raw clients alike."""

from __future__ import annotations

import json

import httptools


def get(path: str, host: str = "example.com", extra: str = "") -> bytes:
    """A GET head; `extra` is whole header lines ("Name: value\\r\\n"), sent as written (latin-1)."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode("latin-1")


class Response:
    """One response as a raw client saw it."""

    def __init__(self) -> None:
        self.status = 0
        self.version = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.complete = False  # False for one the connection's end cut off (close-delimited or short)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def json(self):
        return json.loads(bytes(self.body))

    def echoed_headers(self) -> dict[str, list[str]]:
        """The request headers an echo upstream reports, lower-cased name -> values in order."""
        found: dict[str, list[str]] = {}
        for name, value in self.json()["headers"]:
            found.setdefault(name.lower(), []).append(value)
        return found


class ResponseReader:
    """The responses of one connection, in order, from the bytes fed to it (the raw clients are
    readers of their own connection)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.responses: list[Response] = []
        self.current: Response | None = None

    def feed(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def end(self) -> None:
        """The connection ended: a response begun and not framed ends here."""
        if self.current is not None and self.current.status:
            self.responses.append(self.current)
            self.current = None

    def take(self, count: int) -> list[Response]:
        taken, self.responses = self.responses[:count], self.responses[count:]
        return taken

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.current = Response()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.current.status = self.parser.get_status_code()
        self.current.version = self.parser.get_http_version()

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.current.complete = True
        self.responses.append(self.current)
        self.current = None
