"""Server-side sessions (S16-S18): opaque tokens, stored hashed, with idle and absolute expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gql_server.clock import utcnow
from gql_server.enums import Assurance
from gql_server.limits import IP_ADDRESS_MAX_LENGTH, SESSION_TOUCH_INTERVAL, SESSION_USER_AGENT_MAX_LENGTH
from gql_server.lookups import with_user_by_token_hash
from gql_server.models import Session, User
from gql_server.tokens import hash_token, new_token


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live (S17)."""

    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True)
class NewSession:
    """A session just created; `token` is shown to the client once and never stored."""

    token: str
    session: Session


def effective_expiry(session: Session, policy: SessionPolicy) -> datetime:
    """When the session ends if it is not used again: the earlier of the idle and absolute limits."""
    return min(session.last_seen_at + policy.idle, session.expires_at)


def is_live(session: Session, policy: SessionPolicy, now: datetime) -> bool:
    """Whether a session still works at `now`: not ended, within its absolute and its idle limit (S17)."""
    return session.ended_at is None and session.expires_at > now and session.last_seen_at + policy.idle > now


async def create_session(
    user: User,
    assurance: Assurance,
    policy: SessionPolicy,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    factor_verified: bool = False,
) -> NewSession:
    """Start a session with a new random token (every login gets a new one, S16); `ip` and `user_agent`
    are the client's, kept to show the user their sessions (R17; a longer User-Agent is cut).
    `factor_verified`: a second factor was verified just now, which starts the step-up window (R14)."""
    token = new_token()
    now = utcnow()
    session = await Session.create(
        user=user,
        token_hash=hash_token(token),
        assurance=assurance,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
        ip_address=ip[:IP_ADDRESS_MAX_LENGTH] if ip else None,
        user_agent=user_agent[:SESSION_USER_AGENT_MAX_LENGTH] if user_agent else None,
        verified_at=now if factor_verified else None,
    )
    return NewSession(token=token, session=session)


async def resolve_session(token: str, policy: SessionPolicy) -> Session | None:
    """The live session for a token, with its user; None when unknown, ended or expired."""
    now = utcnow()
    session = await with_user_by_token_hash(Session, hash_token(token))
    if session is None or not is_live(session, policy, now):
        return None
    if now - session.last_seen_at >= SESSION_TOUCH_INTERVAL:
        await Session.filter(id=session.id).update(last_seen_at=now)
        session.last_seen_at = now
    return session


async def end_session(session: Session) -> bool:
    """End a session server-side (S18). True when it was still live."""
    ended = await Session.filter(id=session.id, ended_at=None).update(ended_at=utcnow())
    return ended > 0


async def end_user_sessions(user: User, *, at: datetime | None = None, keep: Session | None = None) -> int:
    """End every live session of `user` (S18: a reset, an operator reset, "this wasn't me", a completed
    conversion) but `keep` (a password change, a factor removed: the session that did it stays, R15, R16);
    `at` is the end time to record (now when not given). Returns how many were live."""
    rows = Session.filter(user_id=user.id, ended_at=None)
    if keep is not None:
        rows = rows.exclude(id=keep.id)
    return await rows.update(ended_at=at or utcnow())


async def live_sessions(user_id: object, policy: SessionPolicy) -> list[Session]:
    """A user's live sessions (the liveness of `resolve_session`), newest first (R17)."""
    now = utcnow()
    rows = Session.filter(user_id=user_id, ended_at=None, expires_at__gt=now, last_seen_at__gt=now - policy.idle)
    return [s for s in await rows.order_by("-created_at") if is_live(s, policy, now)]
