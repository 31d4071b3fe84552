"""The Tortoise configuration shared by the app, the CLI and the migration tool."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate as run_migrations

MODELS_MODULE = "gql_server.models"
MIGRATIONS_MODULE = "gql_server.migrations"
# S42: the database holds password hashes, token digests and encrypted secrets: its owner alone reads it.
SQLITE_FILE_MODE = 0o600
# The files SQLite keeps beside the database; it creates them with the database file's own mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

log = logging.getLogger(__name__)


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database URL (one app, label "models"). Pure: nothing is created on disk
    (importing this module builds one for `tortoise makemigrations`); `secure_sqlite_files`, called by
    `migrate` and at start-up, makes the SQLite folder and file."""
    database_url = _sqlite_defaults(database_url)
    connection = connection_alias(database_url)
    return {
        "connections": {connection: database_url},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": connection,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def connection_alias(database_url: str) -> str:
    """The Tortoise connection name for a database URL: its kind ("sqlite", "postgres").

    Tortoise caches compiled INSERT/UPDATE statements per connection name and table, so one process
    that talks to SQLite and then PostgreSQL (the test suite) would otherwise send SQLite's
    placeholders to PostgreSQL.
    """
    return database_url.split(":", 1)[0]


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a `sqlite://` URL; None for other databases and for `:memory:`."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def secure_sqlite_files(database_url: str) -> None:
    """S42: a new SQLite database is created readable by its owner only (0600); an existing one that others may
    read or write is tightened, with a warning, and so are its -wal, -shm and -journal files.

    SQLite creates its companion files with the database file's mode, so creating the database 0600 before
    SQLite first opens it keeps every file of it private, whatever the process's umask.
    """
    path = sqlite_file(database_url)
    if path is None:
        return
    _ensure_sqlite_folder(database_url)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))
    except FileExistsError:
        pass
    for file in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        _tighten(file)


def _tighten(file: Path) -> None:
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        file.chmod(mode & 0o700)
    except OSError as exc:
        log.warning("%s can be read by others (mode %03o) and could not be made owner-only: %s", file, mode, exc)
        return
    log.warning("%s could be read by others (mode %03o); now owner-only (%03o)", file, mode, mode & 0o700)


async def migrate(database_url: str) -> None:
    """Apply every pending migration, then close the connections it opened (SQLite files are owner-only)."""
    secure_sqlite_files(database_url)
    try:
        await run_migrations(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


# SQLite runs in WAL mode (Tortoise's default). FULL, SQLite's default, waits for the disk at every
# commit; a login commits five times, and the one connection waits with it: 14 ms of a login's 25 ms
# besides hashing. NORMAL syncs at checkpoints instead: still never corrupt, but the last commits before
# a power cut (not a crash of the service) may be lost. `?synchronous=FULL` in DATABASE_URL restores it.
SQLITE_PRAGMAS = {"synchronous": "NORMAL"}


def _sqlite_defaults(database_url: str) -> str:
    if not database_url.startswith("sqlite://"):
        return database_url
    base, _, query = database_url.partition("?")
    given = {part.split("=", 1)[0] for part in query.split("&") if part}
    extra = [f"{name}={value}" for name, value in SQLITE_PRAGMAS.items() if name not in given]
    return f"{base}?{'&'.join(filter(None, [query, *extra]))}" if extra else database_url


def _ensure_sqlite_folder(database_url: str) -> None:
    # SQLite creates the file but not its folder; ./var/ does not exist on a fresh clone.
    path = sqlite_file(database_url)
    if path is not None:
        Path(os.path.dirname(path) or ".").mkdir(parents=True, exist_ok=True)


# `tortoise makemigrations` reads this (see [tool.tortoise] in pyproject.toml).
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://./var/gql_server.sqlite3"))


# SQLite's primary result codes (the low byte of an extended one) for a database that cannot take a write
# for now, S39: SQLITE_READONLY (a read-only file or mount), SQLITE_IOERR (a write refused by the file system:
# an immutable file, a failing disk), SQLITE_FULL (the disk is full), SQLITE_CANTOPEN (its -wal or -shm file).
# SQLITE_BUSY and SQLITE_LOCKED (another connection held the database past the busy timeout) pass as well.
SQLITE_UNAVAILABLE_CODES = frozenset({5, 6, 8, 10, 13, 14})


def is_database_unavailable(error: BaseException | None) -> bool:
    """True when an exception (or one it was raised from) means the database could not be reached, dropped
    the connection, or cannot be written for now (S39: disk full, read-only): a retry may well succeed, so
    the caller is told so instead of "unexpected".
    """
    import sqlite3

    import asyncpg
    from tortoise.exceptions import DBConnectionError

    transient = (
        DBConnectionError,
        ConnectionError,
        TimeoutError,
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.ConnectionDoesNotExistError,
        asyncpg.exceptions.OperatorInterventionError,  # terminated by an administrator, server shutting down
        asyncpg.exceptions.InterfaceError,  # a connection left in a broken state by one of the above
        asyncpg.exceptions.InternalClientError,  # ... or caught mid-operation when it was cut
        asyncpg.exceptions.ReadOnlySQLTransactionError,  # a read-only database, or a standby after a failover
        asyncpg.exceptions.InsufficientResourcesError,  # disk full, out of memory, too many connections
        asyncpg.exceptions.PostgresIOError,
        # Contention that a retry resolves: a lock not granted in time, a deadlock victim, a serialization
        # conflict.
        asyncpg.exceptions.LockNotAvailableError,
        asyncpg.exceptions.DeadlockDetectedError,
        asyncpg.exceptions.SerializationError,
    )
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, transient):
            return True
        # Python sets sqlite_errorcode on the errors SQLite reports, not on its own (a closed connection).
        code: int = getattr(error, "sqlite_errorcode", 0)
        if isinstance(error, sqlite3.Error) and code & 0xFF in SQLITE_UNAVAILABLE_CODES:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False
