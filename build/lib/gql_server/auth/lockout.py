"""The password-step lockout of R12/S4, counted atomically in the database.

Each attempt first *reserves* a place among the three allowed, with a conditional UPDATE; only a
request that got a place may check the password. Parallel guesses therefore cannot pass the limit
(N requests, at most three checks), and the count is exact because it is never read-modify-written.
A reserved attempt counts as a failure until it succeeds; a success resets the round.
"""

from __future__ import annotations

from datetime import timedelta

from tortoise.expressions import F, Q

from gql_server.clock import utcnow
from gql_server.models import User

MAX_FAILURES = 3
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)


def lock_duration(previous_lockouts: int) -> timedelta:
    """1 minute, doubling with each lockout since the last success, at most 1 hour."""
    return min(FIRST_LOCK * (1 << min(previous_lockouts, 16)), LONGEST_LOCK)


async def reserve_attempt(user_id: object) -> bool:
    """Take one of the allowed attempts. False when the password step is locked (or full)."""
    now = utcnow()
    unlocked = Q(password_locked_until=None) | Q(password_locked_until__lte=now)
    taken = await User.filter(unlocked, id=user_id, failed_password_attempts__lt=MAX_FAILURES).update(
        failed_password_attempts=F("failed_password_attempts") + 1
    )
    if taken:
        return True
    # A lock that has run out starts a new round; this attempt is its first.
    restarted = await User.filter(
        id=user_id,
        failed_password_attempts__gte=MAX_FAILURES,
        password_locked_until__lte=now,
    ).update(failed_password_attempts=1, password_locked_until=None)
    return restarted > 0


async def record_failure(user_id: object) -> timedelta | None:
    """After a wrong password: lock when the round is used up. Returns the lock's length if it locked."""
    user = await User.get(id=user_id)
    if user.failed_password_attempts < MAX_FAILURES or _locked(user):
        return None
    duration = lock_duration(user.password_lockouts)
    # Conditional on the lockout count read above: of parallel failures, only one locks.
    locked = await User.filter(
        id=user_id,
        failed_password_attempts__gte=MAX_FAILURES,
        password_lockouts=user.password_lockouts,
    ).update(
        password_locked_until=utcnow() + duration,
        password_lockouts=F("password_lockouts") + 1,
    )
    return duration if locked else None


async def record_success(user_id: object) -> None:
    """A correct password resets the round and the backoff."""
    await User.filter(id=user_id).update(failed_password_attempts=0, password_lockouts=0, password_locked_until=None)


def _locked(user: User) -> bool:
    return user.password_locked_until is not None and user.password_locked_until > utcnow()
