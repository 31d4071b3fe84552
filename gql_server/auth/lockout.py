"""Lockouts counted atomically in the database: the password step (R12/S4), the second-factor step (S6),
attempts that never get a verdict (S35) and the second-factor streak cap (S41).

A round of a step has `limit` places. A request takes a place before it checks a secret: a *reservation*,
one conditional UPDATE, so parallel guesses cannot pass the limit (N requests, at most `limit` checks) in
one process or several. Places taken = failures (verdicts only) + live reservations. A verdict releases
the reservation in the same statement: a failure adds one to the failures and locks when the round is used
up; a success resets the round and the backoff. A request that ends without a verdict (the check raised,
the request was cancelled) releases its reservation and counts nothing. One that dies without running
its `finally` (SIGKILL, the database gone) leaves the reservation behind: reservations whose newest is
older than RESERVATION_LIFETIME (gql_server/limits.py) hold nothing, so such leftovers block for two
minutes at most and are never a failure. A request that finds every place held by live reservations
waits a moment for one and then answers a retryable TooManyAttempts, never "wrong password".

On PostgreSQL a reservation and a failure commit without waiting for their WAL flush (`synchronous_commit`
off for that one transaction). They are visible to every other transaction at once, so the count stays
exact; what is given up is the last fraction of a second of them if PostgreSQL itself crashes. The reason
is S3: a statement that matches no row (an unknown email) writes nothing and so never waits for a flush,
while one that matches would wait for one, a few milliseconds that would tell an attacker which emails
have accounts.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gql_server import statements
from gql_server.clock import utcnow
from gql_server.limits import (
    FIRST_LOCK,
    FIRST_PAUSE_SECONDS,
    LONGEST_LOCK,
    LONGEST_PAUSE_SECONDS,
    PASSWORD_ATTEMPTS,
    PLACE_WAIT_SECONDS,
    RESERVATION_LIFETIME,
    SECOND_FACTOR_ATTEMPTS,
    SETTLE_SECONDS,
    STREAK_CAP,
)
from gql_server.models import User

log = logging.getLogger(__name__)

T = TypeVar("T")

# How many lock durations there are: FIRST_LOCK doubled until it reaches LONGEST_LOCK (1 min to 1 h: 1, 2,
# 4, 8, 16, 32 and 60 minutes, seven); lock_duration(n) stops growing at the last.
_LOCK_STEPS = 1 + math.ceil(math.log2(LONGEST_LOCK / FIRST_LOCK))


def lock_duration(previous_lockouts: int) -> timedelta:
    """1 minute, doubling with each lockout since the last success, at most 1 hour."""
    return min(FIRST_LOCK * (1 << min(previous_lockouts, 16)), LONGEST_LOCK)


@dataclass(frozen=True)
class Column(Generic[T]):
    """A User column that a step reads from a row and names in its SQL.

    Built once, at import: a name that is not a column of User, or a column of another type, fails there.
    """

    name: str
    kind: type[T]

    def __post_init__(self) -> None:
        column = User._meta.fields_map.get(self.name)
        if column is None or column.source_field not in (None, self.name):
            raise TypeError(f"User has no column {self.name!r}")
        if not issubclass(column.field_type, self.kind):
            raise TypeError(f"User.{self.name} holds {column.field_type.__name__}, not {self.kind.__name__}")

    def read(self, user: User) -> T | None:
        """This column's value in a row at hand."""
        value: T | None = getattr(user, self.name)
        return value

    def to_python(self, value: object) -> T | None:
        """A value of this column as the driver returned it (SQLite: timestamps as text), read as Tortoise does."""
        converted: T | None = User._meta.fields_map[self.name].to_python_value(value)
        return converted


@dataclass(frozen=True)
class Columns:
    """The User columns one step keeps its state in (migration 0004)."""

    # Consecutive failures in the current round.
    failures: Column[int]
    # Lockouts since the last success: the backoff's exponent.
    lockouts: Column[int]
    locked_until: Column[datetime]
    # S35: places held by requests in flight, and when the newest was taken.
    reserved: Column[int]
    reserved_at: Column[datetime]
    # S41: wrong codes in a row across lockouts; only the second-factor step has one.
    streak: Column[int] | None = None


@dataclass(frozen=True)
class _Statements:
    """One step's SQL, built once. `$n` placeholders (PostgreSQL's; SQLite reads `?n` the same way)."""

    reserve: str
    release: str
    fail: str
    succeed: str


def _statements(limit: int, columns: Columns) -> _Statements:
    # Only column names checked against the model (Column) and integer limits reach these strings.
    failures, lockouts, locked_until = columns.failures.name, columns.lockouts.name, columns.locked_until.name
    reserved, reserved_at = columns.reserved.name, columns.reserved_at.name
    streak = columns.streak.name if columns.streak else None
    restarted = f"CASE WHEN {failures} >= {limit} THEN 0 ELSE {failures} END"
    live = f"CASE WHEN {reserved_at} > $3 THEN {reserved} ELSE 0 END"
    # The last reservation out takes its time along: nothing reserved, nothing dated.
    released = (
        f"{reserved} = CASE WHEN {reserved} > 0 THEN {reserved} - 1 ELSE 0 END, "
        f"{reserved_at} = CASE WHEN {reserved} > 1 THEN {reserved_at} ELSE NULL END"
    )
    locks = f"{failures} + 1 >= {limit} AND ({locked_until} IS NULL OR {locked_until} <= $2)"
    lock_times = " ".join(f"WHEN {lockouts} = {n} THEN ${n + 3}" for n in range(_LOCK_STEPS - 1))
    counted = f", {streak} = {streak} + 1" if streak else ""
    reset = f", {streak} = 0" if streak else ""
    returned = f", {streak}" if streak else ""
    return _Statements(
        # $1 user id, $2 now, $3 the oldest time a live reservation may have.
        reserve=(
            f'UPDATE "user" SET {failures} = {restarted}, {locked_until} = NULL, '  # noqa: S608 (checked names)
            f"{reserved} = CASE WHEN {reserved_at} > $3 THEN {reserved} + 1 ELSE 1 END, {reserved_at} = $2 "
            f"WHERE id = $1 AND ({locked_until} IS NULL OR {locked_until} <= $2) AND ({restarted}) + ({live}) < {limit}"
        ),
        release=f'UPDATE "user" SET {released} WHERE id = $1',  # noqa: S608 (checked names)
        # $1 user id, $2 now, $3.. the end of a lock for 0, 1, ... lockouts before it.
        fail=(
            f'UPDATE "user" SET {failures} = {failures} + 1, {released}, '  # noqa: S608 (checked names)
            f"{lockouts} = CASE WHEN {locks} THEN {lockouts} + 1 ELSE {lockouts} END, "
            f"{locked_until} = CASE WHEN NOT ({locks}) THEN {locked_until} {lock_times} ELSE ${_LOCK_STEPS + 2} END"
            f"{counted} WHERE id = $1 RETURNING {locked_until}{returned}"
        ),
        # $1 user id, $2 the login time to record (NULL keeps the old one).
        succeed=(
            f'UPDATE "user" SET {failures} = 0, {lockouts} = 0, {locked_until} = NULL, {released}{reset}, '  # noqa: S608
            "last_login_at = COALESCE($2, last_login_at) WHERE id = $1"
        ),
    )


@dataclass(frozen=True)
class Step:
    """One lockable step of a login: its limit of consecutive failures, the User columns of its state, and
    its statements (built from those two, once)."""

    name: str
    limit: int
    columns: Columns
    sql: _Statements = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sql", _statements(self.limit, self.columns))

    @property
    def counts_streak(self) -> bool:
        """S41: whether failures of this step also count towards the streak cap."""
        return self.columns.streak is not None

    def locked_until(self, user: User) -> datetime | None:
        """When the step's lock ends, in a row at hand (None: not locked)."""
        return self.columns.locked_until.read(user)


PASSWORD_STEP = Step(
    name="password",
    limit=PASSWORD_ATTEMPTS,
    columns=Columns(
        failures=Column("failed_password_attempts", int),
        lockouts=Column("password_lockouts", int),
        locked_until=Column("password_locked_until", datetime),
        reserved=Column("password_reserved", int),
        reserved_at=Column("password_reserved_at", datetime),
    ),
)
SECOND_FACTOR_STEP = Step(
    name="second_factor",
    limit=SECOND_FACTOR_ATTEMPTS,
    columns=Columns(
        failures=Column("failed_code_attempts", int),
        lockouts=Column("code_lockouts", int),
        locked_until=Column("code_locked_until", datetime),
        reserved=Column("code_reserved", int),
        reserved_at=Column("code_reserved_at", datetime),
        streak=Column("code_failure_streak", int),
    ),
)


class Refusal(enum.Enum):
    """Why no place was given."""

    # The step is locked (or the account is gone): answered like a wrong secret, and audited as such.
    LOCKED = "locked"
    # Every place is held by requests still in flight: retryable, says nothing about the secret.
    FULL = "full"


@dataclass(frozen=True)
class Failure:
    """What a failure verdict did: the lock it started (if this failure started one), and whether it
    brought the second-factor streak to its cap (S41)."""

    locked_for: timedelta | None = None
    capped: bool = False


class Attempt:
    """A place in a step's round (or the refusal of one), to be ended by exactly one verdict."""

    def __init__(self, user_id: object, step: Step, refusal: Refusal | None) -> None:
        self.user_id = user_id
        self.step = step
        self.refusal = refusal
        # True once a verdict (or the release) has been started: nothing else may release the place.
        self._settled = refusal is not None

    async def fail(self) -> Failure:
        """The secret was wrong: one failure, the reservation released, a lock when the round is used up."""
        self._settled = True
        now = utcnow()
        ends = [now + lock_duration(n) for n in range(_LOCK_STEPS)]
        rows = await _shielded(_run(self.step.sql.fail, [self.user_id, now, *ends], flush=False))
        if not rows:
            return Failure()
        row = rows[0]
        locked_until = self.step.columns.locked_until.to_python(row[0])
        locked_for = locked_until - now if locked_until in ends else None
        capped = self.step.counts_streak and row[1] == STREAK_CAP
        return Failure(locked_for=locked_for, capped=capped)

    async def succeed(self, *, last_login_at: datetime | None = None) -> None:
        """The secret was right: the round, the backoff (and the S41 streak) start again; the reservation
        is released; `last_login_at` is recorded in the same statement when given."""
        self._settled = True
        await _shielded(_run(self.step.sql.succeed, [self.user_id, last_login_at], flush=True))

    async def _release(self) -> None:
        """No verdict (the check raised, the request was cancelled): give the place back, count nothing."""
        if self._settled:
            return
        self._settled = True
        try:
            await _shielded(_run(self.step.sql.release, [self.user_id], flush=True))
        except Exception:
            # The database is gone too: the reservation expires on its own (RESERVATION_LIFETIME).
            log.warning("could not release a %s attempt; it expires by itself", self.step.name, exc_info=True)


@asynccontextmanager
async def attempt(user_id: object, step: Step = PASSWORD_STEP) -> AsyncIterator[Attempt]:
    """Take a place in the step's round, waiting a moment when every place is held by requests in flight.

    The caller checks `refusal` first. On every way out of the block without a verdict (an exception,
    CancelledError included) the place is given back without counting a failure.
    """
    held = Attempt(user_id, step, await _take_place(user_id, step))
    try:
        yield held
    finally:
        await held._release()


async def decoy_attempt(step: Step = PASSWORD_STEP) -> Attempt:
    """S3: the statements of an attempt, on an id that matches no row (an unknown email): the same round
    trips as a real account's attempt, and no write. End it with `fail()`."""
    decoy = Attempt(uuid.uuid4(), step, None)
    await _reserve(decoy.user_id, step)
    return decoy


async def _take_place(user_id: object, step: Step) -> Refusal | None:
    deadline = time.monotonic() + PLACE_WAIT_SECONDS
    pause = FIRST_PAUSE_SECONDS
    while not await _reserve(user_id, step):
        user = await User.get_or_none(id=user_id)
        if user is None or seconds_locked_in(user, step):
            return Refusal.LOCKED
        if time.monotonic() + pause > deadline:
            return Refusal.FULL
        # Places held by requests in flight free up within milliseconds (a hash) or a plugin call.
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
    return None


async def _reserve(user_id: object, step: Step) -> bool:
    now = utcnow()
    taken: int = await _run(step.sql.reserve, [user_id, now, now - RESERVATION_LIFETIME], flush=False, count=True)
    return taken > 0


async def reset_streak(user_id: object) -> None:
    """S41, an operator's reset: code methods work again, with a fresh second-factor round and backoff."""
    await User.filter(id=user_id).update(
        code_failure_streak=0, failed_code_attempts=0, code_lockouts=0, code_locked_until=None
    )


async def seconds_locked(user_id: object, step: Step) -> int:
    """How long the step stays locked (0 when it is not), for `TooManyAttempts.retryAfterSeconds`."""
    return seconds_locked_in(await User.get(id=user_id), step)


def seconds_locked_in(user: User, step: Step) -> int:
    """`seconds_locked` for a user row already at hand."""
    locked_until = step.locked_until(user)
    if locked_until is None:
        return 0
    return max(0, int((locked_until - utcnow()).total_seconds()) + 1)


def streak_capped(user: User) -> bool:
    """S41: the user's wrong codes in a row reached the cap; only a recovery code signs in."""
    return user.code_failure_streak >= STREAK_CAP


# --- running the statements -----------------------------------------------------------------------


async def _shielded(work: Coroutine[Any, Any, Any]) -> Any:
    """Run `work` to its end even if the request is cancelled meanwhile (a verdict or a release half-done
    is worse than one done); the request's CancelledError still comes through afterwards."""
    task = asyncio.ensure_future(work)
    _IN_FLIGHT.add(task)
    task.add_done_callback(_IN_FLIGHT.discard)
    return await asyncio.shield(task)


# Verdicts and releases that outlived their cancelled request; `settle` waits for them at shutdown.
_IN_FLIGHT: set[asyncio.Future[Any]] = set()


async def settle(within: float = SETTLE_SECONDS) -> None:
    """Let verdicts and releases of cancelled requests finish (for at most `within` seconds) before the
    database connections close."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _IN_FLIGHT if not task.done() and task.get_loop() is loop]
    if pending:
        await asyncio.wait(pending, timeout=within)


async def _run(sql: str, values: list[object], *, flush: bool, count: bool = False) -> Any:
    """One statement, atomic on its own: the rows it returns, or with `count` the rows it touched.

    Only a statement that must not wait for PostgreSQL's flush needs a transaction of its own (for
    `SET LOCAL`); any other runs as it is, in the caller's transaction if there is one. On SQLite that
    saves three trips to its thread a statement (Tortoise begins a transaction with a COMMIT and a BEGIN),
    twice on every login step (P1, P3); Tortoise's SQLite client holds its one connection for a
    transaction, so a lone statement never lands inside another request's.
    """
    db = User._meta.db
    if db.capabilities.dialect == "postgres" and not flush:
        async with in_transaction() as connection:
            await _without_waiting_for_flush(connection)
            touched, rows = await statements.run(connection, sql, values)
    else:
        touched, rows = await statements.run(db, sql, values)
    return touched if count else rows


async def _without_waiting_for_flush(connection: BaseDBAsyncClient) -> None:
    """Let this transaction commit without waiting for PostgreSQL's WAL flush (see the module docstring)."""
    await connection.execute_script("SET LOCAL synchronous_commit TO OFF")
