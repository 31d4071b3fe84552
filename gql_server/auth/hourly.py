"""The per-hour limits on what a user may have sent (S13 invitations, S15 enrollments): counted from the
tokens each one issues, so that the limit holds across processes and whoever owns the address."""

from __future__ import annotations

from gql_server.auth.results import TooManyAttempts
from gql_server.clock import utcnow
from gql_server.enums import TokenPurpose
from gql_server.limits import PER_HOUR_WINDOW
from gql_server.models import Token


async def hourly_limit_reached(user_id: object, purpose: TokenPurpose, limit: int) -> TooManyAttempts | None:
    """TooManyAttempts when the user was issued `limit` tokens of `purpose` within the last hour (then one
    more would exceed it); None when another may be issued.

    The count is exact only when the caller holds the user's row (SELECT ... FOR UPDATE) in the
    transaction that issues the next token: parallel requests then count one after another.
    """
    since = utcnow() - PER_HOUR_WINDOW
    issued = await Token.filter(user_id=user_id, purpose=purpose, created_at__gt=since).count()
    if issued >= limit:
        return TooManyAttempts(retry_after_seconds=int(PER_HOUR_WINDOW.total_seconds()))
    return None
