"""Resetting a password by a link to the account's own address (R13; the minimal part of R16).

The link (`{PUBLIC_URL}/reset-password#token=`) carries a single-use PASSWORD_RESET token that lives an
hour. Choosing a new password there proves the mailbox, never the second factor: `resetPassword` answers
what a login with the new password would (R16): a two-factor user still answers the second factor, an
enforced password user still converts. The second factor is then never one whose codes go to the mailbox
that received the link (S34; the rule and its end are in auth/second_factor.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.hourly import hourly_limit_reached
from gql_server.auth.in_flight import stop_everything_in_flight
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import (
    ChallengeExpired,
    InvalidInput,
    PasswordAccepted,
    PasswordResetRequested,
    RequestPasswordResetResult,
    ResetPasswordResult,
    TooManyAttempts,
    Wait,
)
from gql_server.auth.second_factor import mark_password_from_mailbox
from gql_server.emails import MAX_EMAIL_LENGTH, looks_like_email, normalize_email
from gql_server.enums import TokenPurpose
from gql_server.hash_queue import HashQueueFull
from gql_server.limits import PASSWORD_RESETS_PER_HOUR, RESET_LIFETIME
from gql_server.links import Links
from gql_server.models import User
from gql_server.outbox import Outbox, Queued
from gql_server.passwords import PasswordRejected, PasswordService, check_new_password
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.sessions import end_user_sessions
from gql_server.tokens import find_token, issue_token, revoke_tokens, use_token

# What follows a correct password for a user (the user, the client's address and User-Agent): the login
# service's answer (a session, a challenge, ...).
AfterPassword = Callable[[User, str | None, str | None], Awaitable[PasswordAccepted | TooManyAttempts]]


class PasswordResets:
    """Reset links and resetting a password with one."""

    def __init__(
        self,
        auditor: Auditor,
        outbox: Outbox,
        links: Links,
        passwords: PasswordService,
        rate_limiter: ClientRateLimiter,
        notices: ChangeNotices,
    ) -> None:
        self._audit = auditor
        self._outbox = outbox
        self._notices = notices
        self._links = links
        self._passwords = passwords
        self._rate = rate_limiter

    async def request(self, email: str, *, ip: str | None = None) -> RequestPasswordResetResult:
        """R16 "forgot your password": the same answer for every address; a single-use link (1 hour) goes
        only to an account's own address, at most PASSWORD_RESETS_PER_HOUR an hour (beyond that the
        answer is the same and nothing is sent: a different one would say the address is an account's)."""
        retry_after = await self._rate.hit(Action.REQUEST_PASSWORD_RESET, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        address = normalize_email(email[: MAX_EMAIL_LENGTH + 1])
        if len(address) > MAX_EMAIL_LENGTH or not looks_like_email(address):
            return InvalidInput("Enter a valid email address.", "email")
        user = await User.get_or_none(email=address)
        # The lookup, the row lock and the count run whoever owns the address; only an account's request
        # then writes its link (a few statements, milliseconds: the timing difference that is left).
        user_id = user.id if user else uuid.uuid4()  # an id that matches nothing, for an unknown address
        async with in_transaction():
            held = await User.select_for_update().get_or_none(id=user_id)
            refused = await hourly_limit_reached(user_id, TokenPurpose.PASSWORD_RESET, PASSWORD_RESETS_PER_HOUR)
            queued = await self.link_in_transaction(held) if held is not None and refused is None else None
        if held is not None and queued is not None:
            # Not waited for: how long the mail server takes must not tell an account's address either.
            self._outbox.deliver_later([queued])
            await self._audit.record(AuditKind.PASSWORD_RESET_REQUESTED, subject=held, data={"ip": ip})
        return PasswordResetRequested()

    async def link_in_transaction(
        self, user: User, *, template: str = "password_reset", lifetime: timedelta = RESET_LIFETIME, **values: object
    ) -> Queued:
        """Within the caller's transaction: a new reset link to the account's own address (older ones die).
        `template` and `values`: the message it goes in (an admin's reset, R19; a new password account's
        first password, R19, with the invitation's `lifetime`)."""
        await revoke_tokens(user, TokenPurpose.PASSWORD_RESET)
        reset = await issue_token(user, TokenPurpose.PASSWORD_RESET, lifetime)
        return await self._outbox.put(
            template,
            to=user.email,
            locale=user.locale,
            token=reset.record,
            link=self._links.password_reset(reset.token),
            expires_at=reset.expires_at,
            **values,
        )

    async def reset(
        self,
        raw_token: str,
        new_password: str,
        after_password: AfterPassword,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> ResetPasswordResult:
        """Set a new password with a reset link, then answer like a login with it (R16)."""
        retry_after = await self._rate.hit(Action.RESET_PASSWORD, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        token = await find_token(raw_token, TokenPurpose.PASSWORD_RESET)
        if token is None:
            return ChallengeExpired()
        try:
            check_new_password(new_password)
        except PasswordRejected as exc:
            return InvalidInput(str(exc), "newPassword")
        try:
            admission = self._passwords.admit()
        except HashQueueFull as full:
            await self._passwords.queue.pause(full.retry_after_seconds)
            return TooManyAttempts(retry_after_seconds=full.retry_after_seconds, reason=Wait.BUSY)
        with admission:
            new_hash = await self._passwords.hash(new_password)
        user = token.user
        async with in_transaction():
            if not await use_token(token):
                return ChallengeExpired()
            user = await User.select_for_update().get(id=user.id)
            # Whatever the old password started (a conversion to the thief's address, a challenge, an
            # enrollment) ends with it, and the remembered browsers are forgotten (R16, R18).
            stopped = await stop_everything_in_flight(user)
            # The mailbox is proven: the password works again (R13), and the lockout starts afresh.
            await User.filter(id=user.id).update(
                password_hash=new_hash,
                password_reset_required=False,
                failed_password_attempts=0,
                password_lockouts=0,
                password_locked_until=None,
            )
            # S34: the new password comes from the mailbox alone; the mailbox's methods do not answer its logins.
            await mark_password_from_mailbox(token)
            # Whoever knew the old password may hold a session; none outlives the reset.
            ended = await end_user_sessions(user)
            # R13: a password change is announced, a reset too, with its "this wasn't me" link.
            notice = await self._notices.account_changed(user, "notice_password_reset", "password_reset")
        self._outbox.deliver_later([notice])
        await self._audit.record(
            AuditKind.PASSWORD_RESET,
            subject=user,
            data={"sessions": ended, "in_flight": stopped.tokens, "devices": stopped.devices, "ip": ip},
        )
        return await after_password(await User.get(id=user.id), ip, user_agent)
