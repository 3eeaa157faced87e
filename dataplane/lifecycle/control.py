"""Kong's node lifecycle commands for `dataplane` and `controlplane`: start, stop, quit,
reload, restart, health, version (flags, messages and exit statuses after kong/cmd/*.lua).

    start   [-c conf] [-p prefix]   run the node as a daemon; return once it is up
    stop    [-p prefix]             SIGTERM: stop accepting, end what is in flight, exit
    quit    [-p prefix] [-w s] [-t s]  wait, then SIGQUIT (graceful drain); after the
                                    timeout the node's processes are killed ("Timeout, ...")
    reload  [-c conf] [-p prefix]   check the conf and the declarative file, then SIGHUP the
                                    running node, which re-reads both
    restart [-c conf] [-p prefix]   stop, then start
    health  [-p prefix]             which processes run; 0 when all do, 1 otherwise
    version [-a]                    the version

The node on a prefix is found through `<prefix>/pids/nginx.pid` (dataplane.lifecycle.pidfile).
Every failure is `Error: <reason>` on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from dataplane import __version__
from dataplane.conf import Conf, ConfError, load_conf

from . import pidfile

START_TIMEOUT = 60.0  # seconds `start` waits for the node to be up
STOP_TIMEOUT = 30.0  # seconds `stop` waits for the node to exit after SIGTERM
NAME = "Gantry"


class CommandError(Exception):
    """A lifecycle command failed: printed as `Error: <message>`."""


@dataclass(frozen=True)
class Role:
    """What differs between the data plane's and the control plane's commands."""

    program: str  # dataplane | controlplane
    module: str  # the module whose `run` serves the node
    has_workers: bool  # a supervisor with worker processes
    check_start: Callable[[Conf], None] | None = None  # raise CommandError when this conf cannot run here
    check_reload: Callable[[Conf], None] | None = None  # raise CommandError when the node would refuse it


class Output:
    """Kong's CLI log levels: normal, --v (verbose), --vv (debug)."""

    def __init__(self, level: int) -> None:
        self.level = level

    def say(self, message: str) -> None:
        print(message, flush=True)

    def verbose(self, message: str) -> None:
        if self.level >= 1:
            print(message, flush=True)

    def debug(self, message: str) -> None:
        if self.level >= 2:
            print(message, flush=True)


# ---------------------------------------------------------------------------- helpers


def _conf(path: str | None, prefix: str | None) -> Conf:
    return load_conf(path, overrides={"prefix": prefix} if prefix else None)


def _prefix(prefix: str | None) -> str:
    """The prefix Kong's stop/quit/health use: -p, else the default conf's (KONG_PREFIX...)."""
    path = os.path.abspath(prefix) if prefix else load_conf(None).prefix
    if not os.path.isdir(path):
        raise CommandError(f"no such prefix: {path}")
    return path


def _running(prefix: str) -> int:
    pid = pidfile.running_pid(prefix)
    if pid is None or not pidfile.is_alive(pid):
        raise CommandError(f"{NAME} is not running in prefix: {prefix}")
    return pid


def _send(out: Output, pid: int, sig: signal.Signals) -> None:
    out.verbose(f"sending {sig.name} signal to the node running with pid {pid}")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise CommandError("could not send signal: the node is gone") from None


def _wait_gone(prefix: str, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pidfile.is_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _error_log(conf: Conf) -> str | None:
    path = conf.proxy_error_log
    if not path or path == "off" or path in ("/dev/stderr", "stderr", "/dev/stdout"):
        return None
    return path


def _reason(text: str) -> str:
    """What a failed start's output says about why: an `Error:` line, else the last error-log
    entry of level error or above (with the lines that continue it)."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Error:"):
            return "\n".join([lines[i][len("Error:") :].strip(), *lines[i + 1 :]]).strip()
    for i in range(len(lines) - 1, -1, -1):
        if any(marker in lines[i] for marker in ("[emerg]", "[alert]", "[crit]", "[error]")):
            return "\n".join([lines[i].split(": ", 1)[-1].strip(), *lines[i + 1 :]]).strip()
    return lines[-1].strip() if lines else ""


# ---------------------------------------------------------------------------- commands


def start(role: Role, args: argparse.Namespace, out: Output) -> int:
    conf = _conf(args.conf, args.prefix)
    if role.check_start is not None:
        role.check_start(conf)
    if pidfile.locked(conf.prefix):
        raise CommandError(f"{NAME} is already running in {conf.prefix}")
    os.makedirs(conf.prefix, exist_ok=True)
    error_log = _error_log(conf)
    offset = 0
    if error_log:
        os.makedirs(os.path.dirname(error_log), exist_ok=True)
        offset = os.path.getsize(error_log) if os.path.exists(error_log) else 0
    cmd = [sys.executable, "-m", role.module, "run", "-p", conf.prefix, "--detached"]
    if args.conf:
        cmd[4:4] = ["-c", os.path.abspath(args.conf)]
    out.verbose(f"prefix: {conf.prefix}")
    out.debug(f"starting: {' '.join(cmd)}")
    stderr = open(error_log, "ab") if error_log else subprocess.DEVNULL  # noqa: SIM115 (given to the child)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        if error_log:
            stderr.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        code = proc.poll()
        if code is not None:
            text = ""
            if error_log:
                with open(error_log, "rb") as f:
                    f.seek(offset)
                    text = f.read().decode("utf-8", "replace")
            reason = _reason(text) or f"the node exited with status {code}"
            raise CommandError(reason)
        if pidfile.running_pid(conf.prefix) == proc.pid:
            break
        if time.monotonic() >= deadline:
            proc.kill()
            raise CommandError(f"the node did not come up within {START_TIMEOUT:.0f} s, stopped it")
        time.sleep(0.05)
    out.verbose(f"pid {proc.pid} written to {pidfile.path_for(conf.prefix)}")
    out.say(f"{NAME} started")
    return 0


def stop(role: Role, args: argparse.Namespace, out: Output, quiet: bool = False) -> int:
    prefix = _prefix(args.prefix)
    pid = _running(prefix)
    _send(out, pid, signal.SIGTERM)
    if not _wait_gone(prefix, pid, STOP_TIMEOUT):
        _force(out, prefix, pid)
    if not quiet:
        out.say(f"{NAME} stopped")
    return 0


def _force(out: Output, prefix: str, pid: int) -> None:
    """Kill the node's processes: the supervisor (or control plane) and its children."""
    for child in pidfile.children(pid):
        out.verbose(f"killing process {child}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(prefix, pid, 5.0)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile.path_for(prefix))


def quit_(role: Role, args: argparse.Namespace, out: Output) -> int:
    prefix = _prefix(args.prefix)
    pid = _running(prefix)
    wait = max(args.wait, 0.0)
    if wait > 0:
        out.verbose(f"waiting {wait:g} seconds before quitting")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))
            if not pidfile.is_alive(pid):
                print(f"{NAME} stopped while waiting (unexpected)", file=sys.stderr)
                return 0
    _send(out, pid, signal.SIGQUIT)
    out.verbose("waiting for the node to finish processing requests")
    if _wait_gone(prefix, pid, max(args.timeout, 1.0)):  # at least 1 s, as Kong
        out.say(f"{NAME} stopped (gracefully)")
        return 0
    out.verbose(f"the node is still running at {prefix}, forcing shutdown")
    _force(out, prefix, pid)
    out.say(f"Timeout, {NAME} stopped forcefully")
    return 0


def reload(role: Role, args: argparse.Namespace, out: Output) -> int:
    conf = _conf(args.conf, args.prefix)
    if not os.path.isdir(conf.prefix):
        raise CommandError(f"no such prefix: {conf.prefix}")
    if role.check_reload is not None:
        role.check_reload(conf)
    pid = _running(conf.prefix)
    _send(out, pid, signal.SIGHUP)
    out.say(f"{NAME} reloaded")
    return 0


def restart(role: Role, args: argparse.Namespace, out: Output) -> int:
    conf = _conf(args.conf, args.prefix)
    if pidfile.running_pid(conf.prefix) is not None:
        args.prefix = conf.prefix
        stop(role, args, out, quiet=True)
    return start(role, args, out)


def health(role: Role, args: argparse.Namespace, out: Output) -> int:
    prefix = _prefix(args.prefix)
    pid = pidfile.running_pid(prefix)
    alive = pid is not None and pidfile.is_alive(pid)
    rows: list[tuple[str, bool, str]] = []
    if role.has_workers:
        rows.append(("supervisor", alive, f" (pid {pid})" if alive else ""))
        workers = pidfile.children(pid) if alive and pid is not None else []
        rows.append(("workers", bool(workers), f" ({len(workers)}: {', '.join(map(str, workers))})" if workers else ""))
    else:
        rows.append((role.program, alive, f" (pid {pid})" if alive else ""))
    for name, running, detail in rows:
        out.say(name.ljust(14, ".") + ("running" + detail if running else "not running"))
    out.say("")
    if not alive:
        raise CommandError(f"{NAME} is not running at {prefix}")
    if not all(running for _, running, _ in rows):
        raise CommandError(f"some services are not running at {prefix}")
    out.say(f"{NAME} is healthy at {prefix}")
    return 0


def version(role: Role, args: argparse.Namespace, out: Output) -> int:
    if args.all:
        out.say(f"{NAME}: {__version__}\nPython: {platform.python_version()}\n{platform.platform()}")
    else:
        out.say(__version__)
    return 0


# ---------------------------------------------------------------------------- wiring


def _verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--v", dest="verbose", action="store_const", const=1, default=0, help="verbose output")
    parser.add_argument("--vv", dest="verbose", action="store_const", const=2, help="debug output")


ALL = ("start", "stop", "quit", "reload", "restart", "health", "version")

_COMMANDS: dict[str, tuple[Callable[..., int], str, bool]] = {  # name: (function, help, takes -c)
    "start": (start, "start the node in the background; returns once it is up", True),
    "stop": (stop, "stop the running node (SIGTERM)", False),
    "quit": (quit_, "gracefully quit the running node (SIGQUIT)", False),
    "reload": (reload, "re-read the conf (and the declarative file) in the running node", True),
    "restart": (restart, "stop, then start the node", True),
    "health": (health, "check that the node's processes are running", False),
    "version": (version, "print the version", False),
}


def add_commands(sub: argparse._SubParsersAction, role: Role, commands: tuple[str, ...] = ALL) -> None:
    """Add the lifecycle `commands` (all of them by default) to a CLI's subcommands."""
    for name in commands:
        func, text, takes_conf = _COMMANDS[name]
        parser = sub.add_parser(name, help=text)
        if takes_conf:
            parser.add_argument("-c", "--conf", help="configuration file")
        if name != "version":
            parser.add_argument("-p", "--prefix", help="prefix the node runs at")
        if name == "quit":
            parser.add_argument("-t", "--timeout", type=float, default=10.0, help="timeout before forced shutdown")
            parser.add_argument("-w", "--wait", type=float, default=0.0, help="seconds to wait before quitting")
        if name == "version":
            parser.add_argument("-a", "--all", action="store_true", help="also the versions of the runtime")
        _verbosity(parser)
        parser.set_defaults(func=lambda args, func=func: run_command(func, role, args))


def run_command(func: Callable[..., int], role: Role, args: argparse.Namespace) -> int:
    out = Output(args.verbose)
    try:
        return func(role, args, out)
    except (CommandError, ConfError, pidfile.AlreadyRunning, OSError) as err:
        print(f"Error: {err}", file=sys.stderr)
        if not out.level:
            print("\n  Run with --v (verbose) or --vv (debug) for more details", file=sys.stderr)
        return 1
