"""A user's own sessions: list them, end one, end all the others (R17; ending is S18).

Only from a session that satisfies the policy (R10, S30): a restricted one-factor session lists nothing
and ends nothing, like every other read beyond `viewer` itself. An id that is malformed, unknown, ended
or another user's is answered like any other miss (false), so that ids tell nothing about other accounts.
"""

from __future__ import annotations

import uuid

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.access import acting_user
from gql_server.auth.customers import parse_id
from gql_server.clock import utcnow
from gql_server.models import Session
from gql_server.policy import Policy
from gql_server.sessions import SessionPolicy, live_sessions


class MySessions:
    """What a signed-in user does with their own sessions."""

    def __init__(self, auditor: Auditor, policy: Policy, sessions: SessionPolicy) -> None:
        self._audit = auditor
        self._policy = policy
        self._sessions = sessions

    async def live(self, current: Session | None) -> list[Session]:
        """The caller's live sessions, the current one included, newest first; none for a restricted caller."""
        user = await acting_user(current, self._policy)
        if current is None or user is None:
            return []
        return await live_sessions(user.id, self._sessions)

    async def end(self, current: Session | None, session_id: str, *, ip: str | None = None) -> uuid.UUID | None:
        """End one of the caller's live sessions by id (the current one too): the id of the session ended,
        or None when none was."""
        user = await acting_user(current, self._policy)
        target = parse_id(session_id)
        if current is None or user is None or target is None:
            return None
        live = {s.id for s in await live_sessions(user.id, self._sessions)}
        if target not in live:
            return None
        # `user_id` again in the statement: the row must still be the caller's when it is ended.
        ended = await Session.filter(id=target, user_id=user.id, ended_at=None).update(ended_at=utcnow())
        if ended:
            await self._audit.record(
                AuditKind.SESSION_ENDED,
                actor=user,
                subject=user,
                data={"session": str(target), "current": target == current.id, "ip": ip},
            )
        return target if ended else None

    async def end_others(self, current: Session | None, *, ip: str | None = None) -> int:
        """End every live session of the caller but the current one; how many were ended."""
        user = await acting_user(current, self._policy)
        if current is None or user is None:
            return 0
        others = [s.id for s in await live_sessions(user.id, self._sessions) if s.id != current.id]
        if not others:
            return 0
        ended = await Session.filter(id__in=others, user_id=user.id, ended_at=None).update(ended_at=utcnow())
        await self._audit.record(
            AuditKind.OTHER_SESSIONS_ENDED, actor=user, subject=user, data={"sessions": ended, "ip": ip}
        )
        return ended
