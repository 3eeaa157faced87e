"""`controlplane` command line.

    controlplane run [-c kong.conf] [-p prefix]
    controlplane migrations bootstrap|up|finish|list|reset [--yes] [-c kong.conf]
    controlplane config db_import FILE [-c kong.conf]
    controlplane config db_export [FILE] [-c kong.conf]
    controlplane hybrid gen_cert [CERT KEY] [-d DAYS]
    controlplane start|stop|quit|restart|health|version   Kong's node lifecycle
                                                          (dataplane.lifecycle.control)

Each subcommand is one `cmd_*` function; `build_parser()` wires them and is where new
subcommands are added. Failures are a message on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dataplane.conf import Conf, ConfError, load_conf
from dataplane.declarative import DeclarativeConfigError, parse_file, summary
from dataplane.lifecycle import control, pidfile
from dataplane.plugins import PluginError
from dataplane.plugins.node import node_registry

from . import export
from .cluster import CertificateError
from .database import Database, Status, StoreError

T = TypeVar("T")

# `kong migrations list` exit statuses
EXIT_NEEDS_BOOTSTRAP = 3
EXIT_PENDING = 4
EXIT_NEW = 5


def with_db(conf: Conf, action: Callable[[Database], Awaitable[T]]) -> T:
    """Run `action(db)` on its own event loop with a Database opened for it."""

    async def main() -> T:
        db = await Database.connect(conf)
        try:
            return await action(db)
        finally:
            await db.close()

    return asyncio.run(main())


def _names(names: list[str]) -> str:
    return f"core: {', '.join(names)}"


# ------------------------------------------------------------------ migrations


def cmd_migrations_bootstrap(args: argparse.Namespace) -> int:
    conf = load_conf(args.conf)
    print(f"bootstrapping database '{conf.pg_database}' at {conf.pg_host}:{conf.pg_port}...")
    ran = with_db(conf, lambda db: db.migrations.bootstrap())
    if not ran:
        print("database already bootstrapped")
        return 0
    print(f"core migrated up to: {ran[-1]}")
    print(f"{len(ran)} migrations processed\ndatabase is up-to-date")
    return 0


def cmd_migrations_up(args: argparse.Namespace) -> int:
    ran, status = with_db(load_conf(args.conf), _up)
    if not ran:
        print("database is already up-to-date")
        return 0
    print(f"migrations processed: {_names(ran)}")
    if status.pending:
        print("run 'controlplane migrations finish' when ready")
    return 0


async def _up(db: Database) -> tuple[list[str], Status]:
    ran = await db.migrations.up()
    return ran, await db.migrations.status()


def cmd_migrations_finish(args: argparse.Namespace) -> int:
    ran = with_db(load_conf(args.conf), lambda db: db.migrations.finish())
    if not ran:
        print("no pending migrations to finish")
        return 0
    print(f"migrations finished: {_names(ran)}\ndatabase is up-to-date")
    return 0


def cmd_migrations_list(args: argparse.Namespace) -> int:
    status = with_db(load_conf(args.conf), lambda db: db.migrations.status())
    if not status.bootstrapped:
        print("database needs bootstrapping; run 'controlplane migrations bootstrap'")
        return EXIT_NEEDS_BOOTSTRAP
    if status.executed:
        print(f"executed migrations:\n{_names(status.executed)}")
    if status.pending:
        print(f"pending migrations:\n{_names(status.pending)}")
    if status.new:
        print(f"new migrations available:\n{_names(status.new)}")
        print("run 'controlplane migrations up' to proceed")
        return EXIT_NEW
    if status.pending:
        print("run 'controlplane migrations finish' when ready")
        return EXIT_PENDING
    print("database is up-to-date")
    return 0


def _confirmed() -> bool:
    for _ in range(3):
        answer = input("> Are you sure? This operation is irreversible. [Y/n] ")
        if answer in ("y", "Y", "yes", "YES"):
            return True
        if answer in ("n", "N", "no", "NO"):
            return False
    return False


def cmd_migrations_reset(args: argparse.Namespace) -> int:
    conf = load_conf(args.conf)
    if not args.yes:
        if not sys.stdin.isatty():
            print("Error: not a tty: invoke 'reset' non-interactively with the --yes flag", file=sys.stderr)
            return 1
        if not _confirmed():
            print("cancelled")
            return 0
    if not with_db(conf, lambda db: db.migrations.reset()):
        print("database not bootstrapped, nothing to reset")
        return 1
    print("database successfully reset")
    return 0


# ------------------------------------------------------------------ config


def cmd_config_db_import(args: argparse.Namespace) -> int:
    conf = load_conf(args.conf)
    # only plugins this node runs are imported, their configs checked by their schemas
    plugins = node_registry(conf)
    if conf.database == "off":
        print("Error: 'controlplane config db_import' only works with a database (database = off)", file=sys.stderr)
        return 1
    try:
        flat = parse_file(args.file, plugins=plugins.names(), timestamp=int(time.time()))
    except DeclarativeConfigError as err:
        print(f"Error: Failed parsing:\n{err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"Error: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return 1
    print("parse successful, beginning import")
    with_db(conf, lambda db: _import(db, flat))
    print(f"import successful: {summary(flat)}")
    return 0


async def _import(db: Database, flat: dict[str, list[dict]]) -> None:
    await db.migrations.check()
    await db.entities.import_flat(flat)


def cmd_config_db_export(args: argparse.Namespace) -> int:
    if os.path.exists(args.file):
        print(f"Error: {args.file} already exists. Will not overwrite it.", file=sys.stderr)
        return 1
    flat = with_db(load_conf(args.conf), _export)
    text = export.to_yaml(flat)
    # Exclusive create: never clobber a file that appeared meanwhile.
    with open(args.file, "x", encoding="utf-8") as out:
        out.write(text)
    print(f"exported {summary(flat)} to {args.file}")
    return 0


async def _export(db: Database) -> dict[str, list[dict]]:
    await db.migrations.check()
    return await db.entities.export()


# ------------------------------------------------------------------ hybrid


def cmd_hybrid_gen_cert(args: argparse.Namespace) -> int:
    from .cluster import gencert

    if len(args.files) not in (0, 2):
        print("Error: both cert and key path needs to be provided", file=sys.stderr)
        return 1
    cert, key = (os.path.abspath(p) for p in (args.files or [gencert.CERT_FILENAME, gencert.KEY_FILENAME]))
    if args.days is not None and args.days < 1:
        print("Error: --days must be 1 or more", file=sys.stderr)
        return 1
    try:
        gencert.generate(cert, key, args.days or gencert.DEFAULT_DAYS)
    except gencert.FileExists as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    print(f"Successfully generated certificate/key pairs, they have been written to: '{cert}' and '{key}'.")
    return 0


# ------------------------------------------------------------------ run


def cmd_run(args: argparse.Namespace) -> int:
    import uvloop

    from dataplane import logs

    from .server import serve

    conf = load_conf(args.conf, overrides={"prefix": args.prefix} if args.prefix else None)
    plugins = node_registry(conf)  # what the Admin API accepts and the cluster listener compares
    if conf.role not in ("control_plane", "traditional"):
        print(f"Error: role = {conf.role} is served by `dataplane run`, not the control plane", file=sys.stderr)
        return 1
    if conf.database != "postgres":
        print(f"Error: the control plane needs database = postgres, not {conf.database}", file=sys.stderr)
        return 1
    os.makedirs(conf.prefix, exist_ok=True)
    try:
        pidfile.hold(conf.prefix)  # a second node on this prefix is refused
    except pidfile.AlreadyRunning as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    try:
        logs.setup(conf.log_level, conf.proxy_error_log, echo=not args.detached)
        # NotBootstrapped/MigrationsPending/PluginNotEnabled: main() prints them, exit 1
        uvloop.run(serve(conf, plugins))
    finally:
        pidfile.release()
    return 0


def _check_start(conf: Conf) -> None:
    if conf.role not in ("control_plane", "traditional"):
        raise control.CommandError(f"role = {conf.role} is served by `dataplane start`, not the control plane")
    if conf.database != "postgres":
        raise control.CommandError(f"the control plane needs database = postgres, not {conf.database}")


ROLE = control.Role("controlplane", "controlplane.cli", has_workers=False, check_start=_check_start)


# ------------------------------------------------------------------ wiring


def _conf_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--conf", help="kong.conf to load (Kong's default paths otherwise)")


def _add_migrations(sub: argparse._SubParsersAction) -> None:
    migrations = sub.add_parser("migrations", help="manage the database schema")
    commands = migrations.add_subparsers(dest="migrations_command", required=True)
    for name, func, text in (
        ("bootstrap", cmd_migrations_bootstrap, "bootstrap the database and run all migrations"),
        ("up", cmd_migrations_up, "run any new migrations"),
        ("finish", cmd_migrations_finish, "finish running any pending migrations after 'up'"),
        ("list", cmd_migrations_list, "list executed, pending and new migrations"),
        ("reset", cmd_migrations_reset, "drop everything in the database's schema"),
    ):
        command = commands.add_parser(name, help=text)
        _conf_option(command)
        if name == "reset":
            command.add_argument(
                "-y", "--yes", action="store_true", help="assume yes to the prompt (required without a terminal)"
            )
        command.set_defaults(func=func)


def _add_config(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="import and export declarative configuration")
    commands = config.add_subparsers(dest="config_command", required=True)
    db_import = commands.add_parser(
        "db_import", help="upsert a kong.yml's entities into the database (others are kept)"
    )
    db_import.add_argument("file")
    _conf_option(db_import)
    db_import.set_defaults(func=cmd_config_db_import)
    db_export = commands.add_parser("db_export", help="write the database's entities as a kong.yml")
    db_export.add_argument("file", nargs="?", default="kong.yml")
    _conf_option(db_export)
    db_export.set_defaults(func=cmd_config_db_export)


def _add_hybrid(sub: argparse._SubParsersAction) -> None:
    hybrid = sub.add_parser("hybrid", help="hybrid mode utilities")
    commands = hybrid.add_subparsers(dest="hybrid_command", required=True)
    gen_cert = commands.add_parser(
        "gen_cert",
        help="write a certificate/key pair for cluster_mtls = shared "
        "(./cluster.crt and ./cluster.key unless both paths are given)",
    )
    gen_cert.add_argument("files", nargs="*", metavar="CERT KEY")
    gen_cert.add_argument("-d", "--days", type=int, help="validity in days (default: 1095, 3 years)")
    gen_cert.set_defaults(func=cmd_hybrid_gen_cert)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="controlplane", description="Gantry control plane")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the Admin API (role control_plane or traditional)")
    _conf_option(run)
    run.add_argument("-p", "--prefix", help="override the conf's prefix")
    run.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)  # started by `start`: no echo
    run.set_defaults(func=cmd_run)
    control.add_commands(sub, ROLE, commands=("start", "stop", "quit", "restart", "health", "version"))
    _add_migrations(sub)
    _add_config(sub)
    _add_hybrid(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (ConfError, StoreError, CertificateError, PluginError) as err:
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
