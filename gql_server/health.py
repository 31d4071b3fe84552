"""GET /healthz (the process answers) and GET /readyz (it can serve: database, migrations, Redis).

/healthz touches nothing: a load balancer or an orchestrator restarts a process that stops answering
it. /readyz answers 503 with the failing check while the service cannot do its work, so that traffic
goes elsewhere until it can; it never restarts anything.

SQLite is checked through a fresh read-only connection to the configured file rather than the
service's open one: an open SQLite connection keeps reading a file that was deleted, moved or replaced
(or whose permissions changed) and so would hide exactly the failures this check is for. PostgreSQL is
checked through the service's own pool, which is what requests use.

Then a real write (S39), through the service's own connection as every request writes: the one row of
`health_probe` is rewritten. A database that answers reads but cannot take a write (disk full, a read-only
or immutable file, a read-only PostgreSQL) is "not writable": requests that write would fail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pkgutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError

from gql_server import migrations
from gql_server.clock import utcnow
from gql_server.db import connection_alias, sqlite_file
from gql_server.limits import HEALTH_CHECK_TIMEOUT_SECONDS
from gql_server.models import HealthProbe
from gql_server.ratelimit import ClientRateLimiter

log = logging.getLogger(__name__)

MIGRATIONS_TABLE = "tortoise_migrations"
MIGRATIONS_APP = "models"
NO_STORE = {"Cache-Control": "no-store"}
# The one row of health_probe that the write check rewrites (S39).
PROBE_ROW = 1


class DatabaseUnreachable(Exception):
    """The database did not answer a trivial query."""


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, and a short reason safe to show anyone."""

    name: str
    ok: bool
    detail: str


def shipped_migrations() -> frozenset[str]:
    """The names of the migrations this version of the service ships (gql_server/migrations)."""
    return frozenset(
        name for _, name, is_pkg in pkgutil.iter_modules(migrations.__path__) if not is_pkg and name[0] not in "_~"
    )


class Readiness:
    """The checks of /readyz, for one database URL and the rate limiter's Redis (if any)."""

    def __init__(self, database_url: str, rate_limiter: ClientRateLimiter | None) -> None:
        self._alias = connection_alias(database_url)
        self._sqlite = sqlite_file(database_url)
        self._rate_limiter = rate_limiter
        self._expected = shipped_migrations()
        self._was_ready: bool | None = None
        # Why the database was last unreachable, for the log (the response says only "unreachable").
        self._cause = ""

    async def run(self) -> list[Check]:
        """Every check, in order: database, migrations, redis. Logs when readiness changes."""
        checks = [*await self._database_checks(), await self._redis_check()]
        ready = all(check.ok for check in checks)
        if ready != self._was_ready:
            summary = "; ".join(f"{c.name}: {c.detail}" for c in checks)
            if ready:
                log.info("ready (%s)", summary)
            else:
                log.warning("not ready (%s)%s", summary, f": {self._cause}" if self._cause else "")
            self._was_ready = ready
        return checks

    async def _database_checks(self) -> list[Check]:
        self._cause = ""
        try:
            async with asyncio.timeout(HEALTH_CHECK_TIMEOUT_SECONDS):
                migrations = self._migrations_check(await self._applied_migrations())
                # Only on a migrated database: before that the probe's table may not exist.
                database = await self._write_check() if migrations.ok else Check("database", True, "ok")
        except DatabaseUnreachable as exc:
            self._cause = str(exc)
            return [Check("database", False, "unreachable"), Check("migrations", False, "unknown")]
        except TimeoutError:
            return [Check("database", False, "timed out"), Check("migrations", False, "unknown")]
        return [database, migrations]

    def _migrations_check(self, applied: set[str] | None) -> Check:
        if applied is None:
            return Check("migrations", False, "not applied (no migration table)")
        pending = sorted(self._expected - applied)
        if pending:
            return Check("migrations", False, "pending: " + ", ".join(pending))
        return Check("migrations", True, "ok")

    async def _write_check(self) -> Check:
        try:
            await _write_probe()
        except Exception as exc:  # every way a write can fail means the same: requests that write would fail
            self._cause = f"{type(exc).__name__}: {exc}"
            return Check("database", False, "not writable")
        return Check("database", True, "ok")

    async def _applied_migrations(self) -> set[str] | None:
        """Names of the applied migrations; None when the migration table is missing or unreadable."""
        if self._sqlite is not None:
            return await asyncio.to_thread(_sqlite_applied_migrations, self._sqlite)
        connection = get_connection(self._alias)
        try:
            await connection.execute_query("SELECT 1")
        except Exception as exc:
            raise DatabaseUnreachable(type(exc).__name__) from exc
        try:
            _, rows = await connection.execute_query(_APPLIED_QUERY)
        except Exception:
            return None
        return {str(row["name"]) for row in rows}

    async def _redis_check(self) -> Check:
        reachable = await self._rate_limiter.redis_reachable() if self._rate_limiter else None
        if reachable is None:
            return Check("redis", True, "not configured")
        return Check("redis", True, "ok") if reachable else Check("redis", False, "unreachable")


async def _write_probe() -> None:
    """Rewrite the probe row through the service's own connection (made on first use)."""
    now = utcnow()
    if await HealthProbe.filter(id=PROBE_ROW).update(written_at=now):
        return
    try:
        await HealthProbe.create(id=PROBE_ROW, written_at=now)
    except IntegrityError:
        pass  # another process made it a moment ago: this database takes writes all the same


_APPLIED_QUERY = f"SELECT name FROM {MIGRATIONS_TABLE} WHERE app = '{MIGRATIONS_APP}'"  # noqa: S608 (constants)


def _sqlite_applied_migrations(path: Path) -> set[str] | None:
    # The file's permissions first: SQLite reuses a descriptor it still holds for a file this process has
    # open (the service's connection), and would not notice a chmod. Asked with access(), never by opening
    # the file: closing any descriptor of it drops every POSIX lock this process holds on it, SQLite's
    # included, and the next program to close the database would delete the WAL under the service.
    # Readable is the question here; whether writes go through is the write probe's (an immutable or
    # read-only file reads fine and answers "not writable" there).
    if path.exists() and not os.access(path, os.R_OK):
        raise DatabaseUnreachable("unable to open database file: permission denied")
    # mode=ro: a missing file is an error here, not a new empty database created by the check.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=HEALTH_CHECK_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise DatabaseUnreachable(str(exc)) from exc
    try:
        try:
            # Reads the file header: fails for a file that is not (or no longer) a database.
            connection.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as exc:
            raise DatabaseUnreachable(str(exc)) from exc
        try:
            rows = connection.execute(_APPLIED_QUERY).fetchall()
        except sqlite3.Error:
            return None
        return {str(row[0]) for row in rows}
    finally:
        connection.close()


async def healthz(_request: Request) -> JSONResponse:
    """200 whenever the process can answer at all; it checks nothing else on purpose."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request) -> JSONResponse:
    """200 when every check passes; 503 with the failing checks otherwise."""
    readiness: Readiness = request.app.state.readiness
    checks = await readiness.run()
    failing = [c for c in checks if not c.ok]
    body: dict[str, object] = {
        "status": "unavailable" if failing else "ready",
        "checks": {c.name: c.detail for c in checks},
    }
    if failing:
        body["reason"] = "; ".join(f"{c.name}: {c.detail}" for c in failing)
    return JSONResponse(body, status_code=503 if failing else 200, headers=NO_STORE)
