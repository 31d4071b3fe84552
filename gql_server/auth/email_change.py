"""Changing the account's email address (R13, behind R14's step-up).

`request` mails the new address a single-use link (`{PUBLIC_URL}/email-change#token=`, an EMAIL_CHANGE
token that lives EMAIL_CHANGE_LIFETIME) and the account's own address a notice with a "this wasn't me"
link, which cancels the change while it is pending (`auth/report.py`). One change is pending at a time:
a new request revokes the earlier link. Only two-factor users change their address this way; a password
user gets ReauthenticationRequired with no methods and changes it by converting (R8).

An address that belongs to another account gets the same answer, from the same statements, as any
other (no EmailInUse: that would tell anyone with a session which addresses have accounts); its owner
gets a notice instead of the link, and the link is never sent anywhere.

`confirm` needs no session: the link proves the new mailbox. The address must still be free. The old
address is told again, with a "this wasn't me" link, and the audit keeps both addresses. No session
ends: the change was asked for with a recent second factor, and neither the password nor the factors
changed; if it was not the owner, the notices' link ends every session (R13).
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.hourly import hourly_limit_reached
from gql_server.auth.in_flight import stop_everything_in_flight
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import (
    ChallengeExpired,
    ConfirmEmailChangeResult,
    EmailChanged,
    EmailChangeRequested,
    EmailInUse,
    InvalidInput,
    RequestEmailChangeResult,
)
from gql_server.auth.step_up import StepUpService
from gql_server.emails import MAX_EMAIL_LENGTH, looks_like_email, mask_email, normalize_email
from gql_server.enums import TokenPurpose
from gql_server.limits import EMAIL_CHANGE_LIFETIME, EMAIL_CHANGES_PER_HOUR
from gql_server.links import Links
from gql_server.models import Session, User
from gql_server.outbox import Outbox, Queued
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.tokens import IssuedToken, find_token, issue_token, revoke_tokens, use_token

NOT_AN_ADDRESS = "Enter a valid email address."
SAME_ADDRESS = "This is your account's address already."


class EmailChanges:
    """`requestEmailChange` and `confirmEmailChange`."""

    def __init__(
        self,
        step_up: StepUpService,
        notices: ChangeNotices,
        outbox: Outbox,
        links: Links,
        auditor: Auditor,
        rate_limiter: ClientRateLimiter,
    ) -> None:
        self._step_up = step_up
        self._notices = notices
        self._outbox = outbox
        self._links = links
        self._audit = auditor
        self._rate = rate_limiter

    async def request(
        self, session: Session | None, new_email: str, *, ip: str | None = None
    ) -> RequestEmailChangeResult:
        """Mail a link to `new_email` that makes it the account's address, and a notice to the current one."""
        user = await self._step_up.required(session)
        if not isinstance(user, User):
            return user
        address = normalize_email(new_email[: MAX_EMAIL_LENGTH + 1])
        if not looks_like_email(address):
            return InvalidInput(NOT_AN_ADDRESS, "newEmail")
        if address == user.email:
            return InvalidInput(SAME_ADDRESS, "newEmail")
        async with in_transaction():
            # The user's row is held until the end, so that parallel requests count one after another and
            # the hourly limit is exact across processes.
            current = await User.select_for_update().get(id=user.id)
            refused = await hourly_limit_reached(user.id, TokenPurpose.EMAIL_CHANGE, EMAIL_CHANGES_PER_HOUR)
            if refused is not None:
                return refused
            # One pending change at a time: the earlier link dies with its mail, if not sent yet.
            await revoke_tokens(current, TokenPurpose.EMAIL_CHANGE)
            # Issued whoever owns the address, so that the limit, the answer and a report's `cancelled` are
            # the same either way; for another account's address the token is never sent anywhere.
            change = await issue_token(
                current, TokenPurpose.EMAIL_CHANGE, EMAIL_CHANGE_LIFETIME, {"email": address, "old": current.email}
            )
            mail = await self._mail_to_new_address(current, address, change)
            notice = await self._notices.email_change_requested(current, address)
        self._outbox.deliver_later([mail, notice])
        await self._audit.record(
            AuditKind.EMAIL_CHANGE_REQUESTED, actor=user, subject=user, data={"sent_to": mask_email(address), "ip": ip}
        )
        return EmailChangeRequested(sent_to=mask_email(address), expires_at=change.expires_at)

    async def _mail_to_new_address(self, user: User, address: str, change: IssuedToken) -> Queued:
        """The link, or, when the address is another account's, a notice to its owner that it was typed in."""
        owner = await User.filter(email=address).exclude(id=user.id).first()
        if owner is not None:
            return await self._outbox.put("email_change_address_in_use", to=address, locale=owner.locale, email=address)
        return await self._outbox.put(
            "email_change",
            to=address,
            locale=user.locale,
            token=change.record,
            link=self._links.email_change(change.token),
            expires_at=change.expires_at,
            email=address,
        )

    async def confirm(self, raw_token: str, *, ip: str | None = None) -> ConfirmEmailChangeResult:
        """Use the link once: the address it was sent to becomes the account's."""
        if await self._rate.hit(Action.CONFIRM_EMAIL_CHANGE, ip) is not None:
            # Refused like an unknown link (the union has no TooManyAttempts): a 256-bit token is not
            # guessed, and the owner's link stays valid.
            return ChallengeExpired()
        token = await find_token(raw_token, TokenPurpose.EMAIL_CHANGE)
        if token is None:
            return ChallengeExpired()
        address = str(token.data.get("email", ""))
        try:
            async with in_transaction():
                # Held against a "this wasn't me" report in flight (it revokes the link under the same lock).
                user = await User.select_for_update().get(id=token.user.id)
                if user.email != token.data.get("old"):
                    # The account's address changed since the request: the link describes a change no more.
                    return ChallengeExpired()
                if await User.filter(email=address).exclude(id=user.id).exists():
                    # Taken since the link was sent; the link stays as it is (it can work if the address frees).
                    return EmailInUse()
                if not await use_token(token):
                    return ChallengeExpired()
                previous = user.email
                await User.filter(id=user.id).update(email=address)
                user.email = address
                # What was started before (a reset link to the old address, a challenge whose codes go
                # there, another email change) ends, and the remembered browsers are forgotten for good:
                # changing the address back must not bring them back (R13, R18).
                stopped = await stop_everything_in_flight(user)
                notice = await self._notices.address_changed(user, previous, address)
        except IntegrityError:
            # Taken by another account between the check and the update.
            return EmailInUse()
        self._outbox.deliver_later([notice])
        # History keeps both addresses (R13): the events before this one name the old one.
        await self._audit.record(
            AuditKind.EMAIL_CHANGED,
            subject=user,
            data={"old": previous, "new": address, "in_flight": stopped.tokens, "devices": stopped.devices, "ip": ip},
        )
        return EmailChanged(user=user)
