"""A dedicated connection LISTENing on a channel (a pooled connection cannot: the pool
hands it to others and resets it)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from dataplane.conf import Conf

from .connection import _init_connection, _ssl_context, server_name, unavailable_as_error


async def listen(
    conf: Conf, channel: str, on_notify: Callable[[str], None], on_lost: Callable[[], None]
) -> asyncpg.Connection:
    """Connect and LISTEN; `on_notify(payload)` per notification, `on_lost()` once when the
    connection ends. Raises DatabaseUnavailable when the server cannot be reached."""
    settings = {"application_name": "gantry-listener"}
    if conf.pg_schema:
        settings["search_path"] = conf.pg_schema
    with unavailable_as_error(server_name(conf)):
        connection = await asyncpg.connect(
            host=conf.pg_host,
            port=conf.pg_port,
            user=conf.pg_user,
            password=conf.pg_password,
            database=conf.pg_database,
            ssl=_ssl_context(conf),
            timeout=conf.pg_timeout / 1000,
            command_timeout=conf.pg_timeout / 1000,
            server_settings=settings,
        )
        try:
            await _init_connection(connection)
            connection.add_termination_listener(lambda _: on_lost())
            await connection.add_listener(channel, lambda *args: on_notify(args[-1]))
        except BaseException:
            connection.terminate()
            raise
    return connection
