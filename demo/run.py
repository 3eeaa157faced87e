"""`make run`: the demo echo upstream and a DB-less data plane in front of it, in the foreground.

Ctrl-C stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")


def wait_ready(url: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def main() -> int:
    os.chdir(ROOT)
    upstream = subprocess.Popen([sys.executable, "-m", "demo.echo_upstream", "--port", "9000", "--name", "demo"])
    gateway = subprocess.Popen([os.path.join(BIN, "dataplane"), "run", "-c", "demo/kong.conf"])
    try:
        if wait_ready("http://127.0.0.1:8100/status/ready"):
            print(
                "\nGantry is up (DB-less, config from demo/kong.yml). Try:\n"
                "  curl -i http://127.0.0.1:8000/echo/hello?x=1      # routed by path, balanced over an upstream\n"
                "  curl -i -H 'Host: localhost' http://127.0.0.1:8000/anything\n"
                "  curl -i http://127.0.0.1:8000/nothing-here        # 404, no route\n"
                "  curl -s http://127.0.0.1:8100/status              # status API\n"
                "Edit demo/kong.yml and reload with: kill -HUP %d\n"
                "Ctrl-C stops everything.\n" % gateway.pid,
                flush=True,
            )
        else:
            print("Gantry did not become ready; see servroot/logs/error.log", file=sys.stderr)
        return gateway.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in (gateway, upstream):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (gateway, upstream):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
