"""Benchmark data, written fast: migrations through the service's own code, then rows in bulk.

SQLite gets one transaction of `executemany` with journalling and syncing off (it is a scratch file);
PostgreSQL gets `COPY` through asyncpg's `copy_records_to_table`. Every user shares one real argon2id
hash of PASSWORD (made once with the service's parameters), so a login still costs a full verification.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from argon2 import PasswordHasher, Type

from bench.config import PASSWORD, SECRET_KEY
from gql_server import db
from gql_server.clock import utcnow
from gql_server.crypto import Keyring
from gql_server.limits import ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, ARGON2_TIME_COST
from gql_server.tokens import hash_token

# The authenticator secret every seeded TOTP factor holds; the load generator computes its codes.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
BATCH = 50_000
Row = tuple[Any, ...]

CUSTOMER = (
    "id",
    "name",
    "enforce_two_factor",
    "allowed_methods",
    "settings_updated_at",
    "created_at",
    "remember_device_days",
    "require_phishing_resistant_admins",
)
USER = (
    "id",
    "email",
    "password_hash",
    "login_method",
    "conversion",
    "failed_password_attempts",
    "password_lockouts",
    "failed_code_attempts",
    "code_lockouts",
    "password_reserved",
    "code_reserved",
    "code_failure_streak",
    "password_reset_required",
    "locale",
    "created_at",
)
MEMBERSHIP = ("id", "level", "created_at", "customer_id", "user_id")
SESSION = ("id", "token_hash", "assurance", "created_at", "last_seen_at", "expires_at", "user_id", "step_up_failures")
FACTOR = ("id", "method", "state_encrypted", "created_at", "user_id")
TOKEN = ("id", "purpose", "token_hash", "user_id", "created_at", "expires_at", "attempts", "data")


@cache
def password_hash() -> str:
    """One argon2id hash of PASSWORD with the service's parameters (S1), shared by every seeded user."""
    hasher = PasswordHasher(
        time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM, type=Type.ID
    )
    return hasher.hash(PASSWORD)


@cache
def totp_state() -> str:
    """The encrypted factor state (S23) of TOTP_SECRET under the benchmark's SECRET_KEY."""
    return Keyring(SECRET_KEY).encrypt_state({"secret": TOTP_SECRET})


class Sink(Protocol):
    """Where rows go: a SQLite file or a PostgreSQL database."""

    async def insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """Append rows (native Python values) to a table."""

    async def execute(self, sql: str, *args: Any) -> None:
        """Run one statement with `$1`-style parameters."""

    async def scalar(self, sql: str, *args: Any) -> Any:
        """The first column of the first row."""

    async def close(self, analyze: bool = False) -> None:
        """Commit and close; `analyze` updates the planner's statistics after a bulk load."""


class SqliteSink:
    """Writes into a SQLite file in one transaction. `bulk` (a new file nobody else has open): no journal,
    no fsync; otherwise the service's WAL mode, waiting for the server's writes."""

    def __init__(self, path: Path, bulk: bool) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        if bulk:
            self._conn.execute("PRAGMA journal_mode=MEMORY")
            self._conn.execute("PRAGMA synchronous=OFF")
            self._conn.execute("PRAGMA cache_size=-262144")
        self._conn.execute("BEGIN IMMEDIATE")

    @staticmethod
    def _value(value: Any) -> Any:
        # The representations Tortoise itself writes to SQLite.
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, datetime):
            return value.isoformat(" ", "microseconds")
        if isinstance(value, bool):
            return int(value)
        return value

    async def insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """executemany in batches."""
        sql = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
        for batch in _batches(rows):
            self._conn.executemany(sql, [tuple(self._value(v) for v in row) for row in batch])

    async def execute(self, sql: str, *args: Any) -> None:
        """`$n` placeholders become SQLite's `?n`."""
        self._conn.execute(sql.replace("$", "?"), [self._value(a) for a in args])

    async def scalar(self, sql: str, *args: Any) -> Any:
        """The first column of the first row."""
        row = self._conn.execute(sql.replace("$", "?"), [self._value(a) for a in args]).fetchone()
        return row[0] if row else None

    async def close(self, analyze: bool = False) -> None:
        """Commit; after a bulk load, analyse (so the planner knows the sizes) and go back to WAL."""
        self._conn.execute("COMMIT")
        if analyze:
            self._conn.execute("ANALYZE")
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.close()


class PostgresSink:
    """Bulk writes into PostgreSQL with COPY."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, url: str) -> PostgresSink:
        """Connect without waiting for each commit to reach the disk (seeding only)."""
        conn = await asyncpg.connect(_dsn(url))
        await conn.execute("SET synchronous_commit = off")
        return cls(conn)

    async def insert(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """COPY in batches."""
        for batch in _batches(rows):
            await self._conn.copy_records_to_table(table, records=batch, columns=list(columns))

    async def execute(self, sql: str, *args: Any) -> None:
        """Run one statement."""
        await self._conn.execute(sql, *args)

    async def scalar(self, sql: str, *args: Any) -> Any:
        """The first column of the first row."""
        return await self._conn.fetchval(sql, *args)

    async def close(self, analyze: bool = False) -> None:
        """Close; after a bulk load, analyse first (so the planner knows the sizes)."""
        if analyze:
            await self._conn.execute("ANALYZE")
        await self._conn.close()


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def fresh_database(url: str) -> None:
    """An empty, migrated database at `url` (a SQLite file is deleted; a PostgreSQL database recreated)."""
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    else:
        await recreate_postgres_database(url)
    await db.migrate(url)


async def recreate_postgres_database(url: str) -> None:
    """Drop and create the database named in `url` (only gql_bench_* names, the harness's own)."""
    base, _, name = _dsn(url).rpartition("/")
    if not name.startswith("gql_bench_"):
        raise ValueError(f"refusing to recreate {name!r}: benchmark databases are named gql_bench_*")
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def open_sink(url: str, bulk: bool = False) -> Sink:
    """A sink for a migrated database; `bulk` for a new one that no server has open yet."""
    if url.startswith("sqlite://"):
        return SqliteSink(Path(url.removeprefix("sqlite://")), bulk)
    return await PostgresSink.open(url)


@dataclass(frozen=True)
class Users:
    """A group of seeded users: emails `<prefix><i>@bench.test`, for i in range(count)."""

    prefix: str
    count: int
    customer: uuid.UUID
    two_factor: bool = False
    # Sessions with tokens `bench-<prefix><i>` (assurance follows two_factor), for these users.
    sessions: bool = False


def email(prefix: str, i: int) -> str:
    """The email of seeded user i of a group."""
    return f"{prefix}{i}@bench.test"


def session_token(prefix: str, i: int) -> str:
    """The raw session token of seeded user i of a group (benchmark data: not secret)."""
    return f"bench-{prefix}{i}"


def user_row(uid: uuid.UUID, address: str, hashed: str, created_at: datetime, *, two_factor: bool) -> Row:
    """One row of USER: a converted two-factor user or a password user, with no attempts, lockouts or
    reservations (every NOT NULL column: the database has no defaults, Tortoise's are in Python)."""
    method, conversion = ("TWO_FACTOR", "COMPLETED") if two_factor else ("PASSWORD", "NOT_STARTED")
    return (uid, address, hashed, method, conversion, 0, 0, 0, 0, 0, 0, 0, False, "en", created_at)


def customer_rows(specs: Iterable[tuple[uuid.UUID, str, bool]]) -> Iterator[Row]:
    """Customer rows from (id, name, enforces two factors)."""
    now = utcnow()
    for cid, name, enforce in specs:
        yield (cid, name, enforce, None, None, now, 0, False)


async def add_users(sink: Sink, group: Users, emails: Sequence[str] | None = None) -> list[uuid.UUID]:
    """Insert a group of users with their memberships, TOTP factors and sessions; their ids in order."""
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(group.count)]
    names = emails or [email(group.prefix, i) for i in range(group.count)]
    hashed = password_hash()
    await sink.insert(
        "user", USER, (user_row(uid, names[i], hashed, now, two_factor=group.two_factor) for i, uid in enumerate(ids))
    )
    await sink.insert("membership", MEMBERSHIP, ((uuid.uuid4(), "COMPANY", now, group.customer, uid) for uid in ids))
    if group.two_factor:
        state = totp_state()
        await sink.insert("enrolled_factor", FACTOR, ((uuid.uuid4(), "totp", state, now, uid) for uid in ids))
    if group.sessions:
        await add_sessions(sink, ids, [session_token(group.prefix, i) for i in range(group.count)], group.two_factor)
    return ids


async def add_sessions(sink: Sink, user_ids: Sequence[uuid.UUID], tokens: Sequence[str], two_factor: bool) -> None:
    """Live sessions for these users with these raw tokens."""
    now = utcnow()
    assurance = "TWO_FACTOR" if two_factor else "PASSWORD"
    rows = (
        (uuid.uuid4(), hash_token(token), assurance, now, now, now + timedelta(hours=11), uid, 0)
        for uid, token in zip(user_ids, tokens, strict=True)
    )
    await sink.insert("session", SESSION, rows)


async def add_challenges(sink: Sink, user_ids: Sequence[uuid.UUID], tokens: Sequence[str]) -> None:
    """Fresh login challenges (as a correct password leaves them) for these users, with these raw tokens."""
    now = utcnow()
    rows = (
        (uuid.uuid4(), "login_challenge", hash_token(token), uid, now, now + timedelta(minutes=10), 0, json.dumps({}))
        for uid, token in zip(user_ids, tokens, strict=True)
    )
    await sink.insert("token", TOKEN, rows)


async def refresh_sessions(sink: Sink, tokens: Sequence[str]) -> None:
    """Make seeded sessions live again (idle limit) when a database is reused from an earlier run."""
    now = utcnow()
    for token in tokens:
        await sink.execute(
            "UPDATE session SET last_seen_at = $1, expires_at = $2, ended_at = NULL WHERE token_hash = $3",
            now,
            now + timedelta(hours=11),
            hash_token(token),
        )
