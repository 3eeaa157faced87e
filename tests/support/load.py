"""Client load on a gateway while something changes under it, counting every failure."""

from __future__ import annotations

import http.client
import threading


class Load:
    """Keep-alive clients hammering one path from threads, for the duration of a `with`."""

    def __init__(self, port: int, path: str, clients: int = 4) -> None:
        self.port, self.path = port, path
        self.ok = 0
        self.failures: list[str] = []
        self.running = True
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while self.running:
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"status {response.status}")
            except (OSError, http.client.HTTPException) as err:
                self.failures.append(repr(err))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.close()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(15)
