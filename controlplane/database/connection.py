"""The asyncpg pool built from kong.conf's pg_* keys, and the translation of connection
failures into DatabaseUnavailable naming the server."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator

import asyncpg
import orjson

from dataplane.conf import Conf

from .errors import DatabaseUnavailable

DEFAULT_POOL_SIZE = 10

# Failures that mean "the server is not there for us", as opposed to a refused statement.
_UNAVAILABLE = (
    OSError,  # refused, unreachable, reset, name resolution
    asyncio.TimeoutError,  # connect timeout, pool exhausted, statement timeout
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.ConnectionDoesNotExistError,  # lost mid-statement
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # bad user or password
    asyncpg.exceptions.InvalidCatalogNameError,  # no such database
)


def server_name(conf: Conf) -> str:
    return f"{conf.pg_host}:{conf.pg_port}"


def _ssl_context(conf: Conf) -> ssl.SSLContext | bool:
    if not conf.pg_ssl:
        return False
    if not conf.pg_ssl_verify:
        # Kong's pg_ssl without pg_ssl_verify: encrypted, server identity unchecked.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    bundles = [c for c in conf.lua_ssl_trusted_certificate if c != "system"]
    if len(bundles) < len(conf.lua_ssl_trusted_certificate) or not bundles:
        context.load_default_certs()
    for bundle in bundles:
        if "-----BEGIN" in bundle:
            context.load_verify_locations(cadata=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    return context


async def _init_connection(connection: asyncpg.Connection) -> None:
    # Rows travel as JSONB; orjson both ways keeps large exports and imports fast.
    # Binary format (a version byte, then the JSON text) so COPY can use it too.
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
    )


async def create_pool(conf: Conf) -> asyncpg.Pool:
    """A pool that opens connections on demand, so it exists (and later recovers) even
    while the server is down."""
    settings = {"application_name": "gantry"}
    if conf.pg_schema:
        settings["search_path"] = conf.pg_schema
    return await asyncpg.create_pool(
        host=conf.pg_host,
        port=conf.pg_port,
        user=conf.pg_user,
        password=conf.pg_password,
        database=conf.pg_database,
        ssl=_ssl_context(conf),
        timeout=conf.pg_timeout / 1000,
        command_timeout=conf.pg_timeout / 1000,
        server_settings=settings,
        min_size=0,
        max_size=conf.pg_pool_size or DEFAULT_POOL_SIZE,
        init=_init_connection,
    )


@contextlib.contextmanager
def unavailable_as_error(server: str) -> Iterator[None]:
    """Re-raise connection-level failures as DatabaseUnavailable naming the server."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(_describe(server, exc)) from exc


def _describe(server: str, exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"PostgreSQL at {server} did not answer in time"
    if isinstance(exc, asyncpg.exceptions.InvalidAuthorizationSpecificationError):
        return f"PostgreSQL at {server} refused the credentials: {exc}"
    if isinstance(exc, asyncpg.exceptions.InvalidCatalogNameError):
        return f"PostgreSQL at {server}: {exc}"
    detail = str(exc) or type(exc).__name__
    return f"cannot reach PostgreSQL at {server}: {detail}"


# A pooled connection whose server went away while it sat idle can fail with these
# instead of a connection error (asyncpg sees the shutdown notice mid-operation).
_BROKEN = (asyncpg.exceptions.InterfaceError, asyncpg.exceptions.InternalClientError)


@contextlib.asynccontextmanager
async def acquire(pool: asyncpg.Pool, server: str, timeout: float | None = None) -> AsyncIterator[asyncpg.Connection]:
    with unavailable_as_error(server):
        async with pool.acquire(timeout=timeout) as connection:
            try:
                yield connection
            except (*_UNAVAILABLE, *_BROKEN) as exc:
                # Never hand this connection out again: the pool opens a fresh one. A connection
                # the server closed may already be detached from the pool (asyncpg then refuses
                # the call): it is gone either way.
                with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                    connection.terminate()
                if isinstance(exc, _BROKEN) and not isinstance(exc, _UNAVAILABLE):
                    raise DatabaseUnavailable(_describe(server, exc)) from exc
                raise
