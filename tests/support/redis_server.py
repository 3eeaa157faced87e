"""A throwaway redis-server for tests: its own free loopback port, no persistence, optionally
a password (AUTH), an ACL user, or TLS. `make test` installs redis-server where it is missing
(scripts/bootstrap.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.waiting import wait_for


class RedisServer:
    def __init__(
        self,
        directory: Path,
        *,
        password: str | None = None,
        user: tuple[str, str] | None = None,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """``user``: (name, password) of an ACL user allowed everything; ``tls``: (certificate,
        key) files, served on the port instead of plain TCP."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/bootstrap.sh redis-server (make test does)")
        self.port = free_port()
        self.password = password
        self.user = user
        self.tls = tls
        args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
        if tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", tls[0], "--tls-key-file", tls[1]]
            args += ["--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if password:
            args += ["--requirepass", password]
        if user:
            args += ["--user", user[0], "on", f">{user[1]}", "~*", "&*", "+@all"]
        self.log = directory / "redis.log"
        args += ["--logfile", str(self.log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if not tls:
            wait_for(lambda: self.client().ping(), 10, ignoring=(redis.ConnectionError,), message="redis-server up")
        else:
            wait_for(
                lambda: "Ready to accept connections" in self.log.read_text(),
                10,
                ignoring=(OSError,),
                message="redis-server up",
            )

    def client(self, db: int = 0) -> redis.Redis:
        """A plain client of the server (as its admin: the password, or the ACL user)."""
        username, password = self.user if self.user else (None, self.password)
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=db,
            username=username,
            password=password,
            socket_timeout=5,
            decode_responses=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
