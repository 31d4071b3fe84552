"""Starting a conversion and sending invitations (R4, R8, R9; S12, S13).

From the moment the invitation is sent the conversion is PENDING for good: password-only login is
refused whatever happens to enforcement later. The account's email changes only when the invitation
is used, which proves the user owns the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.results import (
    BadInput,
    ConversionOutcome,
    EmailTaken,
    InvitationSent,
    NotAuthenticated,
    Throttled,
    TokenInvalid,
)
from gql_server.clock import utcnow
from gql_server.emails import looks_like_email, mask_email, normalize_email
from gql_server.enums import Assurance, ConversionState, TokenPurpose
from gql_server.factors import Mailer
from gql_server.models import Session, Token, User
from gql_server.policy import is_two_factor
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.tokens import find_token, issue_token, revoke_tokens, use_token

# S13: invitations live 72 hours.
INVITATION_LIFETIME = timedelta(hours=72)
# A user may have at most this many invitations sent per hour: re-sending is help, not a mail cannon.
INVITATIONS_PER_HOUR = 5


@dataclass(frozen=True)
class InvitationLinks:
    """How invitation links are made: `{PUBLIC_URL}/invitation#token=<token>` (the token never reaches logs)."""

    public_url: str

    def link(self, token: str) -> str:
        """The link for one invitation token."""
        return f"{self.public_url}/invitation#token={token}"


class ConversionService:
    """Starts conversions and sends (or re-sends) invitations."""

    def __init__(
        self, auditor: Auditor, mailer: Mailer, links: InvitationLinks, rate_limiter: ClientRateLimiter
    ) -> None:
        self._rate = rate_limiter
        self._audit = auditor
        self._mail = mailer
        self._links = links

    async def request_with_ticket(self, ticket: str, email: str, *, ip: str | None = None) -> ConversionOutcome:
        """From ConversionRequired or ConversionPending: send the invitation to `email` (S12: nothing else)."""
        retry_after = await self._rate.hit(Action.REQUEST_CONVERSION, ip)
        if retry_after is not None:
            return Throttled(retry_after_seconds=retry_after)
        token = await find_token(ticket, TokenPurpose.CONVERSION_TICKET)
        if token is None:
            return TokenInvalid()
        user = token.user
        problem = await self._check_address(user, email, resend_only=bool(token.data.get("resend_only")))
        if problem is not None:
            return problem
        return await self._invite(user, normalize_email(email), ip=ip, ticket=token)

    async def start_for_session(
        self, session: Session | None, email: str, *, ip: str | None = None
    ) -> ConversionOutcome:
        """R8: a signed-in password user starts the conversion themselves."""
        if session is None:
            return NotAuthenticated()
        user = session.user
        if session.assurance is Assurance.TWO_FACTOR or is_two_factor(user):
            return BadInput("This account already signs in with two factors.", None)
        problem = await self._check_address(user, email, resend_only=False)
        if problem is not None:
            return problem
        return await self._invite(user, normalize_email(email), ip=ip)

    async def invite(self, user: User, *, ip: str | None = None) -> InvitationSent | Throttled:
        """Send an invitation to the account's own address (new two-factor accounts, operator resets)."""
        outcome = await self._invite(user, user.email, ip=ip, limit=False)
        assert isinstance(outcome, InvitationSent | Throttled)
        return outcome

    async def _check_address(self, user: User, email: str, *, resend_only: bool) -> BadInput | EmailTaken | None:
        address = normalize_email(email)
        if not looks_like_email(address):
            return BadInput("Enter a valid email address.", "email")
        if resend_only or user.conversion is not ConversionState.NOT_STARTED:
            # R4: a started conversion continues at its address. Otherwise a password alone (without
            # the mailbox) could redirect a pending or operator-reset account's invitation to itself.
            started_with = user.pending_email or user.email
            if address != started_with:
                return BadInput(
                    f"The invitation can only be sent again to {mask_email(started_with)}, "
                    "where this conversion started.",
                    "email",
                )
        if await User.filter(email=address).exclude(id=user.id).exists():
            return EmailTaken()
        return None

    async def _invite(
        self, user: User, address: str, *, ip: str | None, limit: bool = True, ticket: Token | None = None
    ) -> ConversionOutcome:
        hour_ago = utcnow() - timedelta(hours=1)
        async with in_transaction():
            # The user's row is held until the end, so that parallel requests count one after another
            # and the hourly limit is exact across processes (SQLite's transaction holds the database).
            current = await User.select_for_update().get(id=user.id)
            starting = current.conversion is ConversionState.NOT_STARTED
            recent = await Token.filter(
                user_id=user.id, purpose=TokenPurpose.INVITATION, created_at__gt=hour_ago
            ).count()
            if limit and recent >= INVITATIONS_PER_HOUR:
                return Throttled(retry_after_seconds=3600)
            # The ticket is used in the same transaction: if the mail cannot be sent, it still works.
            if ticket is not None and not await use_token(ticket):
                return TokenInvalid()
            await revoke_tokens(user, TokenPurpose.INVITATION)
            invitation = await issue_token(user, TokenPurpose.INVITATION, INVITATION_LIFETIME, {"email": address})
            user.conversion = ConversionState.PENDING if starting else current.conversion
            user.pending_email = address
            await User.filter(id=user.id).update(conversion=user.conversion, pending_email=address)
            # Sent inside the transaction: if the mail cannot be handed over, nothing changed.
            await self._mail.send(
                "invitation",
                to=address,
                locale=user.locale,
                link=self._links.link(invitation.token),
                expires_at=invitation.expires_at,
                email=address,
            )
        kind = AuditKind.CONVERSION_STARTED if starting else AuditKind.INVITATION_SENT
        await self._audit.record(kind, subject=user, data={"sent_to": mask_email(address), "ip": ip})
        return InvitationSent(sent_to=mask_email(address), expires_at=invitation.expires_at)
