"""Real processes for integration tests: echo upstreams and `dataplane run` gateways on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATAPLANE = ROOT / ".venv" / "bin" / "dataplane"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


class Gateway:
    """A `dataplane run` with its own prefix, conf and declarative file."""

    def __init__(self, tmp: Path, yml: str | None, *, workers: int = 2, conf: dict[str, str] | None = None,
                 env: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        """`yml=None` starts without a declarative_config; conf values of None drop a key;
        `command` replaces the `dataplane` entry point (e.g. tests.dataplane_as_version)."""
        self.env = env
        self.command = command or [str(DATAPLANE)]
        self.prefix = tmp / "prefix"
        self.yml_path = tmp / "kong.yml"
        self.conf_path = tmp / "kong.conf"
        self.port = free_port()
        self.status_port = free_port()
        if yml is not None:
            self.yml_path.write_text(textwrap.dedent(yml))
        settings: dict[str, str | None] = {
            "prefix": str(self.prefix),
            "database": "off",
            "declarative_config": str(self.yml_path),
            "proxy_listen": f"127.0.0.1:{self.port} reuseport backlog=1024",
            "status_listen": f"127.0.0.1:{self.status_port}",
            "nginx_worker_processes": str(workers),
            "log_level": "info",
        }
        if yml is None:
            del settings["declarative_config"]
        settings.update(conf or {})
        self.conf_path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items() if v is not None))
        self.stderr_path = tmp / "gateway.stderr"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> Gateway:
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([*self.command, "run", "-c", str(self.conf_path)], cwd=ROOT,
                                         stdout=err, stderr=err, start_new_session=True,
                                         env={**os.environ, **self.env} if self.env else None)
        if wait:
            self.wait_ready()
        return self

    def status(self, path: str = "/status") -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.status_port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.stderr()}")
            try:
                code, body = self.status("/status/ready")
                if code == 200:
                    return
                last = body
            except OSError as err:
                last = err
            time.sleep(0.05)
        raise TimeoutError(f"gateway not ready: {last}; stderr: {self.stderr()}")

    def wait_version(self, version: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, body = self.status("/status")
            if body["configuration_version"] >= version and self.status("/status/ready")[0] == 200:
                return
            time.sleep(0.05)
        raise TimeoutError(f"configuration version {version} not served: {self.status('/status')}")

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def reload(self, yml: str) -> None:
        self.yml_path.write_text(textwrap.dedent(yml))
        self.proc.send_signal(signal.SIGHUP)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:] if self.stderr_path.exists() else ""

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_pids(self) -> list[int]:
        return [w["pid"] for w in self.status()[1]["workers"]]

    def kill(self) -> None:
        """kill -9 of the supervisor and its workers, mid-whatever."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def set_conf(self, **changes: str) -> None:
        """Change conf keys for the next start."""
        lines = [line for line in self.conf_path.read_text().splitlines()
                 if line.split(" = ", 1)[0] not in changes]
        self.conf_path.write_text("".join(f"{line}\n" for line in lines)
                                  + "".join(f"{k} = {v}\n" for k, v in changes.items()))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout), return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            pass
    return b"".join(chunks)


class RawResponse:
    """One response as a raw client saw it."""

    def __init__(self) -> None:
        self.status = 0
        self.version = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.complete = False

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def json(self):
        return json.loads(bytes(self.body))

    def echoed_headers(self) -> dict[str, list[str]]:
        """The request headers an echo upstream reports, lower-cased name -> values in order."""
        found: dict[str, list[str]] = {}
        for name, value in self.json()["headers"]:
            found.setdefault(name.lower(), []).append(value)
        return found


class RawConnection:
    """One client connection speaking raw bytes; responses parsed with httptools (strict)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        import httptools

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.parser = httptools.HttpResponseParser(self)
        self.responses: list[RawResponse] = []
        self.current: RawResponse | None = None
        self.eof = False

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.current = RawResponse()

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

    def send(self, data: bytes) -> None:
        """Send; a peer that already closed (an early error answer) is not an error here."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _feed(self) -> bool:
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            if self.current is not None and self.current.status:
                self.responses.append(self.current)  # close-delimited (or cut short)
                self.current = None
            return False
        self.parser.feed_data(data)
        return True

    def read(self, count: int = 1, timeout: float | None = None) -> list[RawResponse]:
        self.sock.settimeout(timeout or self.timeout)
        while len(self.responses) < count and not self.eof:
            self._feed()
        if len(self.responses) < count:
            raise AssertionError(f"connection closed after {len(self.responses)} of {count} responses")
        taken, self.responses = self.responses[:count], self.responses[count:]
        return taken

    def read_one(self, timeout: float | None = None) -> RawResponse:
        return self.read(1, timeout)[0]

    def closed(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection (EOF or reset) within the timeout."""
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> RawResponse:
    with RawConnection(port, timeout) as conn:
        conn.send(data)
        return conn.read_one()


def dead_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    return free_port()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, message: str = "condition"):
    """Poll until predicate() is truthy; returns its value or fails with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {message}")
        time.sleep(interval)


# ---- hybrid mode: control planes on a test PostgreSQL ----------------------------------------

CONTROLPLANE = [sys.executable, "-m", "controlplane.cli"]


def controlplane_cli(*args: str) -> str:
    """Run a `controlplane` subcommand to completion; its stdout."""
    done = subprocess.run([*CONTROLPLANE, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def gen_cert(directory: Path) -> tuple[Path, Path]:
    """A shared-mode cluster certificate and key made by `controlplane hybrid gen_cert`."""
    cert, key = directory / "cluster.crt", directory / "cluster.key"
    controlplane_cli("hybrid", "gen_cert", str(cert), str(key))
    return cert, key


class ControlPlane:
    """A `controlplane run` on loopback; `pg` holds its pg_* keys (tests.postgres conf values)."""

    def __init__(self, tmp: Path, pg: dict[str, str], cert: Path, key: Path,
                 conf: dict[str, str] | None = None) -> None:
        self.admin_port, self.cluster_port = free_port(), free_port()
        self.cert, self.key = cert, key
        self.conf_path = tmp / "cp.conf"
        settings = {
            "role": "control_plane", "database": "postgres", "prefix": str(tmp / "cp"), **pg,
            "admin_listen": f"127.0.0.1:{self.admin_port}", "cluster_listen": f"127.0.0.1:{self.cluster_port}",
            "cluster_cert": str(cert), "cluster_cert_key": str(key), "log_level": "info", **(conf or {}),
        }
        self.conf_path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.log = tmp / "cp.log"
        self.proc: subprocess.Popen | None = None

    def bootstrap(self) -> ControlPlane:
        controlplane_cli("migrations", "bootstrap", "-c", str(self.conf_path))
        return self

    def start(self) -> ControlPlane:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([*CONTROLPLANE, "run", "-c", str(self.conf_path)], cwd=ROOT,
                                         stdout=out, stderr=out, start_new_session=True)
        wait_for(self._up, timeout=30, interval=0.05, message="control plane Admin API")
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"control plane exited with {self.proc.returncode}: {self.log_text()}")
        try:
            return self.admin("GET", "/")[0] == 200
        except OSError:
            return False

    def admin(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
        finally:
            conn.close()

    def data_planes(self) -> dict[str, dict]:
        """GET /clustering/data-planes by node id."""
        code, body = self.admin("GET", "/clustering/data-planes?size=1000")
        assert code == 200, body
        return {row["id"]: row for row in body["data"]}

    def data_plane_conf(self, cert: Path | None = None, key: Path | None = None) -> dict[str, str]:
        """Gateway conf values making a `dataplane run` a data plane of this control plane."""
        return {"role": "data_plane", "cluster_control_plane": f"127.0.0.1:{self.cluster_port}",
                "cluster_cert": str(cert or self.cert), "cluster_cert_key": str(key or self.key)}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9: no goodbye to the data planes."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def node_id(gateway: Gateway) -> str:
    """The id a data plane reports to its control plane (kept in <prefix>/node.id)."""
    return (gateway.prefix / "node.id").read_text().strip()


def write_services_yml(path: Path, services: int, port: int, *, owner_tags: bool = False) -> None:
    """A kong.yml of `services` services on 127.0.0.1:`port`, each with one route /big<i>/ (no path a prefix of another).
    `owner_tags`: each service is tagged `owner-<a uuid of its own>`, which compresses as little as ids do."""
    lines = ["_format_version: '3.0'", "services:"]
    for i in range(services):
        lines += [f"- name: big{i}", f"  url: http://127.0.0.1:{port}/", "  routes:",
                  f"  - name: big{i}", f"    paths: [/big{i}/]"]
        if owner_tags:
            lines.append(f"  tags: [owner-{uuid.uuid5(uuid.NAMESPACE_URL, f'big{i}')}]")
    path.write_text("\n".join(lines) + "\n")


def config(port: int, path: str = "/api", name: str = "api") -> str:
    return f"""
    _format_version: "3.0"
    services:
      - name: {name}
        url: http://127.0.0.1:{port}
        routes:
          - name: {name}-route
            paths: ["{path}"]
    """


class Load:
    """Keep-alive clients hammering one path from threads; counts every failure."""

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
