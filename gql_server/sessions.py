"""Server-side sessions (S16-S18): opaque tokens, stored hashed, with idle and absolute expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from tortoise.fields import DatetimeField

from gql_server.clock import utcnow
from gql_server.enums import Assurance
from gql_server.models import Session, User
from gql_server.tokens import hash_token, new_token

# last_seen_at is written at most this often, so that reads do not turn into writes per request.
TOUCH_INTERVAL = timedelta(seconds=60)


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


async def create_session(user: User, assurance: Assurance, policy: SessionPolicy) -> NewSession:
    """Start a session with a new random token (every login gets a new one, S16)."""
    token = new_token()
    now = utcnow()
    session = await Session.create(
        user=user,
        token_hash=hash_token(token),
        assurance=assurance,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    return NewSession(token=token, session=session)


async def resolve_session(token: str, policy: SessionPolicy) -> Session | None:
    """The live session for a token, with its user; None when unknown, ended or expired."""
    now = utcnow()
    session = await _session_with_user(hash_token(token))
    if session is None or session.ended_at is not None or session.expires_at <= now:
        return None
    if session.last_seen_at + policy.idle <= now:
        return None
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        await Session.filter(id=session.id).update(last_seen_at=now)
        session.last_seen_at = now
    return session


async def _session_with_user(token_hash: str) -> Session | None:
    """The session row with its user, in one query whose SQL is built once per dialect.

    Every authenticated request starts here. Tortoise's `select_related` gives the same single query,
    but builds its SQL again on every call: that was a fifth of a `viewer` request's time.
    """
    db = Session._meta.db
    query = _session_query(db.capabilities.dialect)
    if query is None:
        return await Session.get_or_none(token_hash=token_hash).select_related("user")
    sql, session_columns, user_columns, datetimes = query
    _, rows = await db.execute_query(sql, [token_hash])
    if not rows:
        return None
    row = list(rows[0])
    for i in datetimes:
        # SQLite hands back text; the standard library parses it ten times faster than Tortoise's iso8601.
        if isinstance(row[i], str):
            row[i] = datetime.fromisoformat(row[i])
    session = Session._init_from_db(**dict(zip(session_columns, row, strict=False)))
    user = User._init_from_db(**dict(zip(user_columns, row[len(session_columns) :], strict=True)))
    # Where Tortoise keeps a related object it fetched with select_related.
    object.__setattr__(session, "_user", user)
    return session


@cache
def _session_query(dialect: str) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[int, ...]] | None:
    """The SQL and its column order, for the dialects the service runs on (None: use the ORM's query).

    Built on first use: the models' column lists are complete only once Tortoise is initialised.
    """
    placeholder = {"sqlite": "?", "postgres": "$1"}.get(dialect)
    if placeholder is None:
        return None
    session_columns = tuple(Session._meta.fields_db_projection.values())
    user_columns = tuple(User._meta.fields_db_projection.values())
    columns = [f's."{c}"' for c in session_columns] + [f'u."{c}"' for c in user_columns]
    sql = (
        # Identifiers from the models only; the token hash is a bound parameter.
        f'SELECT {", ".join(columns)} FROM "{Session._meta.db_table}" s '  # noqa: S608
        f'JOIN "{User._meta.db_table}" u ON u."id" = s."user_id" WHERE s."token_hash" = {placeholder}'
    )
    fields = [Session._meta.fields_map.get(c) for c in session_columns]
    fields += [User._meta.fields_map.get(c) for c in user_columns]
    datetimes = tuple(i for i, field in enumerate(fields) if isinstance(field, DatetimeField))
    return sql, session_columns, user_columns, datetimes


async def end_session(session: Session) -> bool:
    """End a session server-side (S18). True when it was still live."""
    ended = await Session.filter(id=session.id, ended_at=None).update(ended_at=utcnow())
    return ended > 0
