"""`make run`: a hybrid deployment on loopback, in the foreground.

PostgreSQL (kept in servroot/pg), one control plane (conf/hybrid-cp.conf: Admin API on 8001,
cluster listener on 8005), one data plane (conf/hybrid-dp.conf, 2 workers, proxy on 8000) and
the demo echo upstream on 9000; a service and a route are seeded through the Admin API.
State under servroot/ is reused by the next run (`make clean` wipes it). Ctrl-C stops
everything, PostgreSQL included.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

from demo.postgres import DemoPostgres

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")
CP_CONF, DP_CONF = "conf/hybrid-cp.conf", "conf/hybrid-dp.conf"
CERT, KEY = "servroot/cluster.crt", "servroot/cluster.key"
ADMIN, PROXY, STATUS, UPSTREAM = 8001, 8000, 8100, 9000


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.startswith(b"{") else {}
    finally:
        conn.close()


def wait_for(what: str, check, procs: list[subprocess.Popen], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{' '.join(dead[0].args[1:4])} exited with {dead[0].returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


CONTROLPLANE = [sys.executable, "-m", "controlplane.cli"]


def controlplane(*args: str, env: dict[str, str]) -> None:
    subprocess.run([*CONTROLPLANE, *args], check=True, env=env)


def seed() -> None:
    """PUT upserts by name, so a re-run finds the same service and route."""
    code, service = call(ADMIN, "PUT", "/services/demo", {"url": f"http://127.0.0.1:{UPSTREAM}"})
    assert code in (200, 201), service
    code, route = call(ADMIN, "PUT", "/routes/echo", {"paths": ["/echo"], "service": {"id": service["id"]}})
    assert code in (200, 201), route


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Own session: a Ctrl-C reaches only this script, which stops everything in order.
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    os.chdir(ROOT)
    os.makedirs("servroot", exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    postgres = DemoPostgres.open("servroot/pg")
    procs: list[subprocess.Popen] = []  # in stopping order
    try:
        postgres.ensure_database("gantry")
        env = {**os.environ, "KONG_PG_PORT": str(postgres.port)}
        if not (os.path.exists(CERT) and os.path.exists(KEY)):
            for stale in (CERT, KEY):
                if os.path.exists(stale):
                    os.remove(stale)
            controlplane("hybrid", "gen_cert", CERT, KEY, env=env)
        controlplane("migrations", "bootstrap", "-c", CP_CONF, env=env)
        upstream = start([sys.executable, "-m", "demo.echo_upstream", "--port", str(UPSTREAM), "--name", "demo"], env)
        cp = start([*CONTROLPLANE, "run", "-c", CP_CONF], env)
        procs[:0] = [cp, upstream]
        wait_for("the Admin API", lambda: call(ADMIN, "GET", "/")[0] == 200, procs)
        seed()
        dp = start([os.path.join(BIN, "dataplane"), "run", "-c", DP_CONF], {**env, "KONG_NGINX_WORKER_PROCESSES": "2"})
        procs.insert(0, dp)
        wait_for("the data plane to route /echo", lambda: call(PROXY, "GET", "/echo")[0] == 200, procs)
        print(
            "\nGantry is up in hybrid mode: control plane (Admin API :8001) -> data plane (proxy :8000).\n"
            "Try:\n"
            "  curl -i http://127.0.0.1:8000/echo/hello?x=1                    # routed by the data plane\n"
            "  curl -s http://127.0.0.1:8001/services                          # Admin API\n"
            "  curl -s -X POST http://127.0.0.1:8001/services/demo/routes -d name=more -d 'paths[]=/more'\n"
            "  curl -i http://127.0.0.1:8000/more                              # the new route, pushed at once\n"
            "  curl -s http://127.0.0.1:8001/clustering/data-planes            # connected data planes\n"
            "  curl -s http://127.0.0.1:8100/status                            # data plane status\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = next(p for p in procs if p.poll() is not None)
        print(f"{' '.join(dead.args[1:4])} exited with {dead.returncode}; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError, subprocess.CalledProcessError, AssertionError) as err:
        print(f"demo failed: {err} (logs under servroot/)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        stop(procs)
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
