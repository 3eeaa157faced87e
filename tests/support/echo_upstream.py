"""demo.echo_upstream as a test upstream, in a process of its own."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

from tests.support.paths import ROOT


class Upstream:
    """demo.echo_upstream in its own process."""

    def __init__(self, name: str = "echo", tls: tuple[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "demo.echo_upstream", "--port", "0", "--name", name]
        if tls:
            cmd += ["--tls", *tls]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.rsplit(":", 1)[1])
        self.name = name

    def stats(self) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", "/__stats")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
