"""`dataplane` command line: run a data plane, check a kong.conf, parse a declarative file.

    dataplane run [-c kong.conf] [-p prefix]   start the supervisor and workers (foreground);
                                               with database = postgres, a traditional node
    dataplane check [kong.conf]                validate a conf (and the declarative file it names)
    dataplane config parse kong.yml            validate a declarative file, print a summary
    dataplane start|stop|quit|reload|restart|health|version
                                               Kong's node lifecycle (dataplane.lifecycle.control)

Every failure is a message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dataplane import __version__, logs
from dataplane.conf import Conf, ConfError, load_conf
from dataplane.config_source import ConfigRejected, LoadedConfig, load_declarative
from dataplane.declarative import DeclarativeConfigError
from dataplane.lifecycle import control, pidfile
from dataplane.plugins import PluginError, Registry, load_registry
from dataplane.plugins.node import node_registry

log = logging.getLogger("gantry")


def _load(path: str | None, prefix: str | None = None) -> tuple[Conf, Registry]:
    """The conf and the plugins it names, loaded: their schemas validate the config, and a
    plugin entity of any other name is refused, since this node would not run it."""
    overrides = {"prefix": prefix} if prefix else None
    conf = load_conf(path, overrides=overrides)
    return conf, node_registry(conf)


def cmd_run(args: argparse.Namespace) -> int:
    conf, registry = _load(args.conf, args.prefix)
    if conf.role == "control_plane":
        print("Error: role = control_plane is served by `controlplane run`, not the data plane", file=sys.stderr)
        return 1
    os.makedirs(conf.prefix, exist_ok=True)
    try:
        pidfile.hold(conf.prefix)  # released when the process ends
    except pidfile.AlreadyRunning as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    try:
        return _run(conf, args, registry)
    finally:
        pidfile.release()


def _run(conf: Conf, args: argparse.Namespace, registry: Registry) -> int:
    import uvloop

    from dataplane.admin import serves_admin
    from dataplane.cluster import ClusterSettingsError
    from dataplane.lmdb_cache.lmdb_writer import StoreFullError
    from dataplane.supervisor import Supervisor

    logs.setup(conf.log_level, conf.proxy_error_log, echo=not args.detached)
    conf_path = os.path.abspath(args.conf) if args.conf else None
    if conf.database != "off":  # role = traditional (a data plane with a database is refused by the conf)
        from dataplane.traditional.run import run_traditional

        return run_traditional(conf, conf_path, registry)
    try:
        if serves_admin(conf):  # Kong's DB-less Admin API, on admin_listen
            from dataplane.admin.node import DblessNode

            supervisor: Supervisor = DblessNode(conf, conf_path, registry)
        else:
            supervisor = Supervisor(conf, conf_path, registry)
        return uvloop.run(supervisor.run())
    except (DeclarativeConfigError, ConfigRejected) as err:
        if conf.declarative_config:
            log.error("declarative config %s is invalid, not starting:\n%s", conf.declarative_config, err)
        else:  # the LMDB cache was refused
            log.error("cannot start: %s", err)
    except (OSError, StoreFullError, ClusterSettingsError) as err:
        log.error("cannot start: %s", err)
    return 1


def _parse_declarative(path: str, what: str, registry: Registry) -> LoadedConfig | None:
    """The loaded config, or None after printing why the file is unusable."""
    try:
        return load_declarative(path, registry.names())
    except (DeclarativeConfigError, ConfigRejected) as err:
        print(f"Error: {what} {path} is invalid:\n{err}", file=sys.stderr)
    except OSError as err:
        print(f"Error: {what}: {err}", file=sys.stderr)
    return None


def cmd_check(args: argparse.Namespace) -> int:
    conf, registry = _load(args.conf)
    path = conf.declarative_config
    if path and _parse_declarative(path, "declarative_config", registry) is None:
        return 1
    print(f"configuration at {args.conf or 'defaults'} is valid")
    return 0


def cmd_config_parse(args: argparse.Namespace) -> int:
    loaded = _parse_declarative(args.file, "declarative file", load_registry(("bundled",)))
    if loaded is None:
        return 1
    print(f"parse successful: {loaded.summary}")
    return 0


def _check_start(conf: Conf) -> None:
    if conf.role == "control_plane":
        raise control.CommandError("role = control_plane is served by `controlplane start`, not the data plane")


def _check_reload(conf: Conf) -> None:
    """What the running node would refuse: plugins it cannot load, a declarative file that
    does not validate."""
    registry = node_registry(conf)
    path = conf.declarative_config
    if path and conf.role != "data_plane":
        try:
            load_declarative(path, registry.names())
        except (DeclarativeConfigError, ConfigRejected) as err:
            raise control.CommandError(f"declarative_config {path} is invalid:\n{err}") from None
        except OSError as err:
            raise control.CommandError(f"declarative_config: {err}") from None


ROLE = control.Role(
    "dataplane", "dataplane.cli", has_workers=True, check_start=_check_start, check_reload=_check_reload
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataplane", description="Gantry data plane")
    parser.add_argument("--version", action="version", version=f"gantry {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the data plane in the foreground")
    run.add_argument("-c", "--conf", help="kong.conf to load (defaults otherwise)")
    run.add_argument("-p", "--prefix", help="override the prefix directory")
    run.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)  # started by `start`: no echo
    run.set_defaults(func=cmd_run)
    control.add_commands(sub, ROLE)
    check = sub.add_parser("check", help="validate a kong.conf and the declarative file it names")
    check.add_argument("conf", nargs="?")
    check.set_defaults(func=cmd_check)
    config = sub.add_parser("config", help="declarative configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    parse = config_sub.add_parser("parse", help="validate a declarative file")
    parse.add_argument("file")
    parse.set_defaults(func=cmd_config_parse)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (ConfError, PluginError) as err:
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
