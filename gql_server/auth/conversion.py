"""Starting a conversion and sending invitations (R4, R8, R9, R13; S12, S13, S36).

From the moment the invitation is sent the conversion is PENDING for good: password-only login is
refused whatever happens to enforcement later. The account's email changes only when the invitation
is used, which proves the user owns the address. An invitation that goes to another address than the
account's own is announced to the account's own address, with a "this wasn't me" link (R13): a
password alone must not be able to take the account quietly.

An address that belongs to another account gets the same answer as any other (R4: no enumeration);
that address receives a LINK_ACCOUNT invitation instead of an enrollment (R20, auth/linking.py).

Mail goes through the outbox (S36): written in the transaction with the change, delivered after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import account_state, linking
from gql_server.auth.account_state import PASSWORD_ONLY, AccountState, is_two_factor
from gql_server.auth.hourly import hourly_limit_reached
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import (
    AuthenticationRequired,
    ChallengeExpired,
    ConversionRequested,
    InvalidInput,
    RequestConversionResult,
    TooManyAttempts,
)
from gql_server.emails import looks_like_email, mask_email, normalize_email
from gql_server.enums import Assurance, ConversionState, TokenPurpose
from gql_server.limits import INVITATION_LIFETIME, INVITATIONS_PER_HOUR
from gql_server.links import Links
from gql_server.models import Session, Token, User
from gql_server.outbox import Delivery, Outbox, Queued
from gql_server.policy import Policy
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.tokens import IssuedToken, find_token, issue_token, revoke_tokens, use_token

REFUSED_ADDRESS = (
    "The mail server refused this address, so the invitation cannot reach it. Sign in again to send it to "
    "your account's own address."
)


@dataclass(frozen=True)
class _Sent:
    """What the transaction of `_invite` wrote: the message to deliver and what to answer."""

    queued: Queued
    expires_at: datetime
    starting: bool
    previous_pending: str | None
    notices: list[Queued]


class ConversionService:
    """Starts conversions and sends (or re-sends) invitations."""

    def __init__(
        self,
        auditor: Auditor,
        outbox: Outbox,
        links: Links,
        notices: ChangeNotices,
        policy: Policy,
        rate_limiter: ClientRateLimiter,
    ) -> None:
        self._rate = rate_limiter
        self._policy = policy
        self._audit = auditor
        self._outbox = outbox
        self._links = links
        self._notices = notices

    async def request_with_ticket(self, ticket: str, email: str, *, ip: str | None = None) -> RequestConversionResult:
        """From ConversionRequired or ConversionPending: send the invitation to `email` (S12: nothing else)."""
        retry_after = await self._rate.hit(Action.REQUEST_CONVERSION, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        token = await find_token(ticket, TokenPurpose.CONVERSION_TICKET)
        if token is None:
            return ChallengeExpired()
        user = token.user
        problem = _check_address(user, email, resend_only=bool(token.data.get("resend_only")))
        if problem is not None:
            return problem
        return await self._invite(user, normalize_email(email), ip=ip, ticket=token)

    async def start_for_session(
        self, session: Session | None, email: str, *, ip: str | None = None
    ) -> RequestConversionResult:
        """R8: a signed-in password user starts the conversion themselves."""
        if session is None:
            return AuthenticationRequired()
        user = session.user
        if session.assurance is Assurance.TWO_FACTOR or is_two_factor(user):
            return InvalidInput("This account already signs in with two factors.", None)
        problem = _check_address(user, email, resend_only=False)
        if problem is not None:
            return problem
        return await self._invite(user, normalize_email(email), ip=ip)

    async def invite_in_transaction(self, user: User, *, proven: bool) -> tuple[Queued, Token]:
        """Within the caller's transaction: an invitation to the account's own address (a new two-factor
        account, an operator reset). `proven`: whoever asked has shown the account's password; when not,
        finishing the enrollment needs it (S34). The caller delivers the message after its commit."""
        await revoke_tokens(user, TokenPurpose.INVITATION)
        invitation = await issue_token(
            user,
            TokenPurpose.INVITATION,
            INVITATION_LIFETIME,
            {"email": user.email, "password_proven": proven},
        )
        queued = await self._outbox.put(
            "invitation",
            to=user.email,
            locale=user.locale,
            token=invitation.record,
            link=self._links.invitation(invitation.token),
            expires_at=invitation.expires_at,
            email=user.email,
        )
        return queued, invitation.record

    async def resend_for_admin(self, user: User) -> tuple[Queued, str, datetime] | TooManyAttempts | None:
        """R19: a customer's admin re-sends a PENDING conversion's invitation, to the address the conversion
        started with (a LINK_ACCOUNT one when that address is another account's, R20). None when the account
        is not PENDING (any more). Nobody showed the account's password for it, so finishing it needs the
        password (S34), unless the account has none yet (a new account chooses its first one). The caller
        delivers the message after the commit."""
        async with in_transaction():
            current = await User.select_for_update().get_or_none(id=user.id)
            if current is None or current.conversion is not ConversionState.PENDING:
                return None
            refused = await hourly_limit_reached(user.id, TokenPurpose.INVITATION, INVITATIONS_PER_HOUR)
            if refused is not None:
                return refused
            address = current.pending_email or current.email
            queued, invitation = await self._invitation_or_link(current, address, proven=False)
        return queued, mask_email(address), invitation.expires_at

    async def _invitation_or_link(self, current: User, address: str, *, proven: bool) -> tuple[Queued, IssuedToken]:
        """Within the caller's transaction (the user's row held): a new invitation to `address` (the older
        ones and any LINK_ACCOUNT invitation die, S13), mailed there; or, when the address is another
        account's, issued but used at once (it still counts for the hourly limit, and the answer is the same)
        and a LINK_ACCOUNT invitation mailed to that account instead (R4, R20): it never enrolls anything."""
        await revoke_tokens(current, TokenPurpose.INVITATION)
        await revoke_tokens(current, TokenPurpose.LINK_ACCOUNT)
        invitation = await issue_token(
            current, TokenPurpose.INVITATION, INVITATION_LIFETIME, {"email": address, "password_proven": proven}
        )
        owner = await User.filter(email=address).exclude(id=current.id).first()
        if owner is not None:
            await use_token(invitation.record)
            linked = await linking.invite_in_transaction(
                current, owner, address, outbox=self._outbox, links=self._links, policy=self._policy
            )
            return linked, invitation
        queued = await self._outbox.put(
            "invitation",
            to=address,
            locale=current.locale,
            token=invitation.record,
            link=self._links.invitation(invitation.token),
            expires_at=invitation.expires_at,
            email=address,
        )
        return queued, invitation

    async def _invite(
        self, user: User, address: str, *, ip: str | None, ticket: Token | None = None
    ) -> RequestConversionResult:
        sent = await self._write_invitation(user, address, ticket)
        if not isinstance(sent, _Sent):
            return sent
        kind = AuditKind.CONVERSION_STARTED if sent.starting else AuditKind.INVITATION_SENT
        # S33: in the logs of the customers whose enforcement caused it; a voluntary one is the user's own.
        causes = await self._policy.enforcing_customers(user)
        await self._audit.record_caused_by(kind, causes, subject=user, data={"sent_to": mask_email(address), "ip": ip})
        self._outbox.deliver_later(sent.notices)
        delivery = await self._outbox.deliver(sent.queued)
        if delivery is Delivery.REFUSED:
            await self._forget_refused(user, address, sent.previous_pending)
            return InvalidInput(REFUSED_ADDRESS, "email")
        if delivery is Delivery.DROPPED:
            # A parallel request replaced this invitation before it went out; that one's answer is the truth.
            return ChallengeExpired()
        return ConversionRequested(sent_to=mask_email(address), expires_at=sent.expires_at, delivery=delivery)

    async def _write_invitation(
        self, user: User, address: str, ticket: Token | None
    ) -> _Sent | RequestConversionResult:
        """One transaction: the limit, the ticket, the state, the invitation (or the notice that stands in
        for it) and the R13 notice, all written together or not at all."""
        async with in_transaction():
            # The user's row is held until the end, so that parallel requests count one after another
            # and the hourly limit is exact across processes (SQLite's transaction holds the database).
            current = await User.select_for_update().get(id=user.id)
            refused = await hourly_limit_reached(user.id, TokenPurpose.INVITATION, INVITATIONS_PER_HOUR)
            if refused is not None:
                return refused
            if ticket is not None and not await use_token(ticket):
                return ChallengeExpired()
            # Issued whoever owns the address, so that the hourly limit and the answer are the same either way.
            queued, invitation = await self._invitation_or_link(current, address, proven=True)
            previous_pending = current.pending_email
            # R4: sending the first invitation starts the conversion; a re-sent one changes only its address.
            starting = AccountState.of(current) == PASSWORD_ONLY
            if starting:
                await account_state.move(current, account_state.CONVERSION_PENDING, pending_email=address)
            else:
                await User.filter(id=user.id).update(pending_email=address)
            notices = []
            if address != current.email:
                notices.append(await self._notices.invitation_elsewhere(current, address))
        return _Sent(queued, invitation.expires_at, starting, previous_pending, notices)

    async def _forget_refused(self, user: User, address: str, previous: str | None) -> None:
        """The mail server refused the address for good: no invitation can ever reach it, so the
        conversion goes on at the address it had before (the account's own one at first)."""
        async with in_transaction():
            if await User.filter(id=user.id, pending_email=address).update(pending_email=previous):
                await revoke_tokens(user, TokenPurpose.INVITATION)


def _check_address(user: User, email: str, *, resend_only: bool) -> InvalidInput | None:
    address = normalize_email(email)
    if not looks_like_email(address):
        return InvalidInput("Enter a valid email address.", "email")
    if resend_only or user.conversion is not ConversionState.NOT_STARTED:
        # R4: a started conversion continues at its address. Otherwise a password alone (without
        # the mailbox) could redirect a pending or operator-reset account's invitation to itself.
        started_with = user.pending_email or user.email
        if address != started_with:
            return InvalidInput(
                f"The invitation can only be sent again to {mask_email(started_with)}, where this conversion started.",
                "email",
            )
    return None
