"""Lockouts counted atomically in the database: the password step (R12/S4) and the second-factor step (S6).

Each attempt first *reserves* a place among the ones allowed, with a conditional UPDATE; only a
request that got a place may check its secret. Parallel guesses therefore cannot pass the limit
(N requests, at most `limit` checks), and the count is exact because it is never read-modify-written.
A reserved attempt counts as a failure until it succeeds; a success resets the round and the backoff.

On PostgreSQL a reservation commits without waiting for its WAL flush (`synchronous_commit` off for
that one transaction). It is visible to every other transaction at once, so the count stays exact;
what is given up is the last fraction of a second of reservations if PostgreSQL itself crashes. The
reason is S3: a reservation that matches no row (an unknown email) writes nothing and so never
waits for a flush, while one that matches would wait for one, a few milliseconds that would tell
an attacker which emails have accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from gql_server.clock import utcnow
from gql_server.models import User

FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)


@dataclass(frozen=True)
class Step:
    """One lockable step of a login: its limit of consecutive failures and the User columns that count them."""

    limit: int
    failures: str
    lockouts: str
    locked_until: str


PASSWORD_STEP = Step(
    limit=3,
    failures="failed_password_attempts",
    lockouts="password_lockouts",
    locked_until="password_locked_until",
)
SECOND_FACTOR_STEP = Step(
    limit=10,
    failures="failed_code_attempts",
    lockouts="code_lockouts",
    locked_until="code_locked_until",
)


def lock_duration(previous_lockouts: int) -> timedelta:
    """1 minute, doubling with each lockout since the last success, at most 1 hour."""
    return min(FIRST_LOCK * (1 << min(previous_lockouts, 16)), LONGEST_LOCK)


async def reserve_attempt(user_id: object, step: Step = PASSWORD_STEP) -> bool:
    """Take one of the allowed attempts. False when the step is locked (or all places are taken)."""
    now = utcnow()
    never_locked: dict[str, Any] = {step.locked_until: None}
    lock_over: dict[str, Any] = {f"{step.locked_until}__lte": now}
    unlocked = Q(**never_locked) | Q(**lock_over)
    async with in_transaction() as connection:
        await _without_waiting_for_flush(connection)
        taken = (
            await User.filter(unlocked, id=user_id, **{f"{step.failures}__lt": step.limit})
            .using_db(connection)
            .update(**{step.failures: F(step.failures) + 1})
        )
        if taken:
            return True
        # A lock that has run out starts a new round; this attempt is its first.
        restarted = (
            await User.filter(id=user_id, **{f"{step.failures}__gte": step.limit, f"{step.locked_until}__lte": now})
            .using_db(connection)
            .update(**{step.failures: 1, step.locked_until: None})
        )
        return restarted > 0


async def _without_waiting_for_flush(connection: BaseDBAsyncClient) -> None:
    """Let this transaction commit without waiting for PostgreSQL's WAL flush (see the module docstring)."""
    if connection.capabilities.dialect == "postgres":
        await connection.execute_script("SET LOCAL synchronous_commit TO OFF")


async def record_failure(user_id: object, step: Step = PASSWORD_STEP) -> timedelta | None:
    """After a wrong secret: lock when the round is used up. Returns the lock's length if this call locked.

    An id without a user is allowed and changes nothing: the unknown-email path makes the same read (S3).
    """
    user = await User.get_or_none(id=user_id)
    if user is None:
        return None
    locked_until: datetime | None = getattr(user, step.locked_until)
    if getattr(user, step.failures) < step.limit or (locked_until is not None and locked_until > utcnow()):
        return None
    previous: int = getattr(user, step.lockouts)
    duration = lock_duration(previous)
    # Conditional on the lockout count read above: of parallel failures, only one locks.
    locked = await User.filter(id=user_id, **{f"{step.failures}__gte": step.limit, step.lockouts: previous}).update(
        **{step.locked_until: utcnow() + duration, step.lockouts: F(step.lockouts) + 1}
    )
    return duration if locked else None


async def record_success(user_id: object, step: Step = PASSWORD_STEP, **also: Any) -> None:
    """A correct secret resets the round and the backoff; `also` are more User columns to set in the same
    statement (a login's last_login_at), to spare the login a round trip."""
    await User.filter(id=user_id).update(**{step.failures: 0, step.lockouts: 0, step.locked_until: None}, **also)


async def seconds_locked(user_id: object, step: Step) -> int:
    """How long the step stays locked (0 when it is not), for `TooManyAttempts.retryAfterSeconds`."""
    return seconds_locked_in(await User.get(id=user_id), step)


def seconds_locked_in(user: User, step: Step) -> int:
    """`seconds_locked` for a user row already at hand."""
    locked_until: datetime | None = getattr(user, step.locked_until)
    if locked_until is None:
        return 0
    return max(0, int((locked_until - utcnow()).total_seconds()) + 1)
