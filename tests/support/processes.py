"""Gantry's own processes as users run them, on loopback: `dataplane run` gateways and
`controlplane run` control planes (on a PostgreSQL of tests.support.postgres), each with its
own prefix, conf and log, plus the `controlplane` subcommands that prepare them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import textwrap
from pathlib import Path

from tests.support.paths import CONTROLPLANE, DATAPLANE, ROOT
from tests.support.ports import free_port
from tests.support.waiting import wait_for


class _ProcessGroup:
    """A process started in a session of its own, stopped with whatever it started."""

    proc: subprocess.Popen | None

    def kill(self) -> None:
        """kill -9 of it and its children, mid-whatever: no drain, no goodbye to peers."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """`sig`, then kill -9 if it has not exited within `timeout`; its exit code (0: never started)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


class Gateway(_ProcessGroup):
    """A `dataplane run` with its own prefix, conf and declarative file."""

    def __init__(
        self,
        tmp: Path,
        yml: str | None,
        *,
        workers: int = 2,
        conf: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`yml=None` starts without a declarative_config; conf values of None drop a key;
        `command` replaces the `dataplane` entry point (e.g. tests.support.dataplane_as_version)."""
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
            # Kong's default (127.0.0.1:8001) would clash between gateways run side by side:
            # a test wanting the DB-less Admin API names its port (tests.support.dbless_admin)
            "admin_listen": "off",
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
            self.proc = subprocess.Popen(
                [*self.command, "run", "-c", str(self.conf_path)],
                cwd=ROOT,
                stdout=err,
                stderr=err,
                start_new_session=True,
                env={**os.environ, **self.env} if self.env else None,
            )
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

    def status_answers(self) -> bool:
        """Whether the status API answers yet (the supervisor is up, ready or not)."""
        try:
            self.status()
            return True
        except OSError:
            return False

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.stderr()}")
            return self.status("/status/ready")[0] == 200

        wait_for(
            ready, timeout, interval=0.05, ignoring=(OSError,), message=f"a ready gateway; stderr: {self.stderr()}"
        )

    def workers_serve(self, version: int | None = None) -> bool:
        """Whether every worker serves ``version`` (default: the one the node holds) or later:
        each takes a new version in on its own, so a request may still meet the older one on
        another worker when only the node's is checked."""
        body = self.status()[1]
        wanted = body["configuration_version"] if version is None else version
        return body["configuration_version"] >= wanted and all(
            w["configuration_version"] >= wanted for w in body.get("workers", ())
        )

    def wait_version(self, version: int, timeout: float = 10.0) -> None:
        wait_for(
            lambda: self.workers_serve(version) and self.status("/status/ready")[0] == 200,
            timeout,
            interval=0.05,
            message=f"configuration version {version} served by every worker",
        )

    def wait_workers(self, timeout: float = 10.0) -> None:
        """Until every worker serves the version the node holds."""
        wait_for(self.workers_serve, timeout, interval=0.05, message="every worker on the node's version")

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, str], bytes]:
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

    def set_conf(self, **changes: str) -> None:
        """Change conf keys for the next start."""
        lines = [line for line in self.conf_path.read_text().splitlines() if line.split(" = ", 1)[0] not in changes]
        self.conf_path.write_text(
            "".join(f"{line}\n" for line in lines) + "".join(f"{k} = {v}\n" for k, v in changes.items())
        )


def node_id(gateway: Gateway) -> str:
    """The id a data plane reports to its control plane (kept in <prefix>/node.id)."""
    return (gateway.prefix / "node.id").read_text().strip()


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


class AdminClient:
    """JSON requests to an Admin API on loopback `admin_port`."""

    admin_port: int

    def admin(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body) if body is not None else None,
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
        finally:
            conn.close()

    def admin_ok(self, method: str, path: str, body: dict | None = None) -> dict:
        """An Admin API request that must succeed; its body."""
        code, answer = self.admin(method, path, body)
        assert code in (200, 201, 204), (method, path, code, answer)
        return answer


class ControlPlane(_ProcessGroup, AdminClient):
    """A `controlplane run` on loopback; `pg` holds its pg_* keys (PostgresCluster conf values)."""

    def __init__(
        self,
        tmp: Path,
        pg: dict[str, str],
        cert: Path,
        key: Path,
        conf: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``env``: variables added to the process's environment (a PYTHONPATH for custom plugins)."""
        self.env = {**os.environ, **env} if env else None
        self.admin_port, self.cluster_port = free_port(), free_port()
        self.cert, self.key = cert, key
        self.conf_path = tmp / "cp.conf"
        settings = {
            "role": "control_plane",
            "database": "postgres",
            "prefix": str(tmp / "cp"),
            **pg,
            "admin_listen": f"127.0.0.1:{self.admin_port}",
            "cluster_listen": f"127.0.0.1:{self.cluster_port}",
            "cluster_cert": str(cert),
            "cluster_cert_key": str(key),
            "log_level": "info",
            **(conf or {}),
        }
        self.conf_path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.log = tmp / "cp.log"
        self.proc: subprocess.Popen | None = None

    def bootstrap(self) -> ControlPlane:
        controlplane_cli("migrations", "bootstrap", "-c", str(self.conf_path))
        return self

    def start(self) -> ControlPlane:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*CONTROLPLANE, "run", "-c", str(self.conf_path)],
                cwd=ROOT,
                stdout=out,
                stderr=out,
                start_new_session=True,
                env=self.env,
            )
        wait_for(self._up, timeout=30, interval=0.05, ignoring=(OSError,), message="control plane Admin API")
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"control plane exited with {self.proc.returncode}: {self.log_text()}")
        return self.admin("GET", "/")[0] == 200

    def data_planes(self) -> dict[str, dict]:
        """GET /clustering/data-planes by node id."""
        code, body = self.admin("GET", "/clustering/data-planes?size=1000")
        assert code == 200, body
        return {row["id"]: row for row in body["data"]}

    def data_plane_conf(self, cert: Path | None = None, key: Path | None = None) -> dict[str, str]:
        """Gateway conf values making a `dataplane run` a data plane of this control plane."""
        return {
            "role": "data_plane",
            "cluster_control_plane": f"127.0.0.1:{self.cluster_port}",
            "cluster_cert": str(cert or self.cert),
            "cluster_cert_key": str(key or self.key),
        }

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
