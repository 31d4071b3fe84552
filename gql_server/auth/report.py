"""R13: "this wasn't me" (`reportUnrecognizedChange`), the link in a notice to the previous address.

Used before the change completes, it cancels it: the pending invitation dies, and a PENDING conversion
stays PENDING (R4) but continues at the account's own address; a pending email change's link dies. Used
after, it cannot undo an address the new owner proved, but either way it ends every session and every
token in flight (tickets, challenges, enrollments, invitations, email-change links), refuses the password
until it is reset through the account's own address (a reset link goes there at once), and is audited as
`change_reported` for the customers' admins.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.in_flight import stop_everything_in_flight
from gql_server.auth.password_reset import PasswordResets
from gql_server.auth.results import ChallengeExpired, ChangeReported, ReportUnrecognizedChangeResult
from gql_server.clock import utcnow
from gql_server.emails import mask_email
from gql_server.enums import TokenPurpose
from gql_server.models import User
from gql_server.outbox import Outbox
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.sessions import end_user_sessions
from gql_server.tokens import find_token, use_token


class ReportService:
    """Handles the "this wasn't me" link."""

    def __init__(
        self, auditor: Auditor, outbox: Outbox, resets: PasswordResets, rate_limiter: ClientRateLimiter
    ) -> None:
        self._audit = auditor
        self._outbox = outbox
        self._resets = resets
        self._rate = rate_limiter

    async def report(self, raw_token: str, *, ip: str | None = None) -> ReportUnrecognizedChangeResult:
        """Use a report link once (R13)."""
        if await self._rate.hit(Action.REPORT_UNRECOGNIZED_CHANGE, ip) is not None:
            # Refused like an unknown link: a 256-bit token is not guessed, and the owner's link stays valid.
            return ChallengeExpired()
        token = await find_token(raw_token, TokenPurpose.REPORT_CHANGE)
        if token is None:
            return ChallengeExpired()
        async with in_transaction():
            if not await use_token(token):
                return ChallengeExpired()
            user = await User.select_for_update().get(id=token.user.id)
            now = utcnow()
            # Both kinds of pending change are stopped, with every token in flight (R13).
            stopped = await stop_everything_in_flight(user, now=now)
            cancelled = stopped.change_cancelled
            await end_user_sessions(user, at=now)
            await User.filter(id=user.id).update(password_reset_required=True)
            reset_mail = await self._resets.link_in_transaction(user)
        await self._audit.record(
            AuditKind.CHANGE_REPORTED,
            subject=user,
            data={
                "change": token.data.get("change"),
                "address": mask_email(str(token.data.get("address", ""))),
                "cancelled": cancelled,
                "ip": ip,
            },
        )
        self._outbox.deliver_later([reset_mail])
        return ChangeReported(cancelled=cancelled)
