"""Changing the password in a session (R16).

It needs the current password, checked by the login's own step (`LoginService.confirm_password`: the
same lockout and backoff, S4, and the per-address login budget), so that a session left open is no
way to guess the password; a two-factor user also needs a recent second factor (R14). Password users
have no factor to step up with: the current password is their proof. The new password follows S2/S31.
The other sessions end, the one that made the change stays (S18); the account's address is told with a
"this wasn't me" link (R13); the change is audited.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.access import acting_user
from gql_server.auth.account_state import is_two_factor
from gql_server.auth.in_flight import stop_everything_in_flight
from gql_server.auth.login import LoginService
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import (
    AuthenticationRequired,
    ChangePasswordResult,
    InvalidInput,
    PasswordChanged,
    ReauthenticationRequired,
    TooManyAttempts,
    Wait,
)
from gql_server.auth.step_up import StepUpService
from gql_server.hash_queue import HashQueueFull
from gql_server.models import Session, User
from gql_server.outbox import Outbox
from gql_server.passwords import PasswordRejected, PasswordService, check_new_password, normalize_password
from gql_server.policy import Policy
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.sessions import end_user_sessions

SAME_PASSWORD = "The new password is the one you have now; choose another."  # noqa: S105 (a message)


class PasswordChanges:
    """`changePassword`: a signed-in user sets a new password with the current one."""

    def __init__(
        self,
        login: LoginService,
        step_up: StepUpService,
        passwords: PasswordService,
        notices: ChangeNotices,
        outbox: Outbox,
        auditor: Auditor,
        policy: Policy,
        rate_limiter: ClientRateLimiter,
    ) -> None:
        self._login = login
        self._step_up = step_up
        self._passwords = passwords
        self._notices = notices
        self._outbox = outbox
        self._audit = auditor
        self._policy = policy
        self._rate = rate_limiter

    async def change(
        self, session: Session | None, current_password: str, new_password: str, *, ip: str | None = None
    ) -> ChangePasswordResult:
        """Set `new_password` when `current_password` is right (and, for a two-factor user, the session's
        second factor is recent); end the user's other sessions."""
        # A password is checked here: its own per-address budget, and the account's S4 lockout counts it.
        retry_after = await self._rate.hit(Action.CHANGE_PASSWORD, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        if session is None:
            return AuthenticationRequired()
        user = await self._allowed(session)
        if not isinstance(user, User):
            return user
        # Before the current password is looked at: a refused new one costs no attempt and changes nothing.
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
            refused = await self._login.confirm_password(user, current_password, ip=ip)
            if refused is not None:
                return refused
            if normalize_password(new_password) == normalize_password(current_password):
                # The current one was just proven: saying so tells nobody anything new.
                return InvalidInput(SAME_PASSWORD, "newPassword")
            new_hash = await self._passwords.hash(new_password)
        async with in_transaction():
            user = await User.select_for_update().get(id=user.id)
            await User.filter(id=user.id).update(password_hash=new_hash)
            # S18: whoever knew the old password may hold a session; the one that proved it stays. What the
            # old password started ends too, and the remembered browsers are forgotten (R16, R18).
            ended = await end_user_sessions(user, keep=session)
            stopped = await stop_everything_in_flight(user)
            notice = await self._notices.account_changed(user, "notice_password_changed", "password")
        self._outbox.deliver_later([notice])
        await self._audit.record(
            AuditKind.PASSWORD_CHANGED,
            actor=user,
            subject=user,
            data={"sessions": ended, "in_flight": stopped.tokens, "devices": stopped.devices, "ip": ip},
        )
        return PasswordChanged(session=session)

    async def _allowed(self, session: Session) -> User | AuthenticationRequired | ReauthenticationRequired:
        """The acting user, if this session may change the password (R14); otherwise why not."""
        user = await acting_user(session, self._policy)
        if user is None:
            return AuthenticationRequired()
        if is_two_factor(user):
            return await self._step_up.required(session)
        # A password user has no factor to verify again: the current password (asked next) is the proof.
        return user
