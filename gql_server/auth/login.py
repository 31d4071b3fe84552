"""Step one of every login: email and password (R3, R4, R6, R7, R12, R18; S1, S3, S4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import lockout
from gql_server.auth.devices import RememberedDevices
from gql_server.auth.lockout import Attempt, Refusal
from gql_server.auth.results import (
    ConversionPending,
    ConversionRequired,
    InvalidCredentials,
    LoginResult,
    LoginSuccess,
    PasswordAccepted,
    TooManyAttempts,
    Wait,
)
from gql_server.auth.second_factor import SecondFactorService
from gql_server.clock import utcnow
from gql_server.emails import MAX_EMAIL_LENGTH, mask_email, normalize_email
from gql_server.enums import Assurance, TokenPurpose
from gql_server.hash_queue import HashQueueFull
from gql_server.limits import FULL_RETRY_AFTER_SECONDS, PASSWORD_MAX_LENGTH
from gql_server.lookups import user_by_email
from gql_server.models import Session, User
from gql_server.passwords import PasswordService
from gql_server.policy import NextStep, Policy
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.sessions import SessionPolicy, create_session, end_session
from gql_server.tokens import issue_token


@dataclass(frozen=True)
class LoginLimits:
    """Lifetimes of what a login hands out."""

    sessions: SessionPolicy
    ticket: timedelta


class LoginService:
    """Checks a password and decides, through the policy, what the caller gets."""

    def __init__(
        self,
        passwords: PasswordService,
        auditor: Auditor,
        limits: LoginLimits,
        policy: Policy,
        second_factor: SecondFactorService,
        rate_limiter: ClientRateLimiter,
        devices: RememberedDevices,
    ) -> None:
        self._rate = rate_limiter
        self._passwords = passwords
        self._audit = auditor
        self._limits = limits
        self._policy = policy
        self._second_factor = second_factor
        self._devices = devices

    async def login(
        self,
        email: str,
        password: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        device: str | None = None,
    ) -> LoginResult:
        """Verify email + password; answer a session, a ticket, a challenge, or one refusal (S3). `device`: the
        browser's remembered-device cookie, read only after the right password (R18)."""
        retry_after = await self._rate.hit(Action.LOGIN, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        try:
            # Before any database work: a refused login costs almost nothing and counts no attempt.
            # The same for every address, so it says nothing about accounts (S3).
            admission = self._passwords.admit()
        except HashQueueFull as full:
            await self._passwords.queue.pause(full.retry_after_seconds)
            return TooManyAttempts(retry_after_seconds=full.retry_after_seconds, reason=Wait.BUSY)
        with admission:
            return await self._check_password(email, password, ip, user_agent, device)

    async def _check_password(
        self, email: str, password: str, ip: str | None, user_agent: str | None, device: str | None
    ) -> LoginResult:
        address = normalize_email(email)
        # Over-long input is refused before hashing (S2's DoS cap); no account can match it.
        if len(address) > MAX_EMAIL_LENGTH or len(password) > PASSWORD_MAX_LENGTH:
            return InvalidCredentials()
        user = await user_by_email(address)
        if user is None or user.password_hash is None:
            # Unknown email, or no password chosen yet: cost one hash all the same (S3), and the same
            # database round trips as counting a real account's attempt (these match no row).
            decoy = await lockout.decoy_attempt()
            await self._passwords.spend_equivalent_time(password)
            # S29: never the typed address; for an unknown one it may be a password typed in the wrong field.
            reason = "unknown_email" if user is None else "no_password"
            await self._audit.record(AuditKind.LOGIN_FAILED, subject=user, data={"reason": reason, "ip": ip})
            await decoy.fail()
            return InvalidCredentials()
        # Leaving the block without a verdict (the check raised, the request was cancelled) gives the
        # place back and counts nothing (S35).
        async with lockout.attempt(user.id) as attempt:
            refused = await self._refusal(user, password, ip, attempt)
            if refused is not None:
                return refused
            return await self._after_password(user, ip, attempt, user_agent, device)

    async def confirm_password(
        self, user: User, password: str, *, ip: str | None = None
    ) -> InvalidCredentials | TooManyAttempts | None:
        """The account's password asked again outside a login (S34: finishing an operator reset's
        invitation), under the login's own limits (R12, S3, S4, S35): None when it is right."""
        if user.password_hash is None or len(password) > PASSWORD_MAX_LENGTH:
            await self._passwords.spend_equivalent_time(password[:PASSWORD_MAX_LENGTH])
            return InvalidCredentials()
        async with lockout.attempt(user.id) as attempt:
            refused = await self._refusal(user, password, ip, attempt)
            if refused is None:
                await attempt.succeed()
            return refused

    async def _refusal(
        self, user: User, password: str, ip: str | None, attempt: Attempt
    ) -> InvalidCredentials | TooManyAttempts | None:
        """The password step's verdict within an attempt: the answer when it refuses, None when the password
        is right (the attempt then still awaits its success)."""
        assert user.password_hash is not None
        if attempt.refusal is Refusal.LOCKED:
            await self._passwords.spend_equivalent_time(password)
            await self._audit.record(AuditKind.LOGIN_REFUSED_LOCKED, subject=user, data={"ip": ip})
            return InvalidCredentials()
        if attempt.refusal is Refusal.FULL:
            # Every place is held by this account's other logins in flight: nothing was checked,
            # so nothing is "wrong"; the client tries again in a moment (S35).
            return TooManyAttempts(retry_after_seconds=FULL_RETRY_AFTER_SECONDS)
        verification = await self._passwords.verify(user.password_hash, password)
        if not verification.ok:
            await self._fail(user, ip, attempt)
            return InvalidCredentials()
        if user.password_reset_required:
            # R13: the owner reported a change they did not make; this password works again only after a
            # reset through the account's own address. Not a failure: the round is not spent on it.
            await attempt.succeed()
            await self._audit.record(AuditKind.LOGIN_REFUSED_RESET_REQUIRED, subject=user, data={"ip": ip})
            return InvalidCredentials()
        if verification.new_hash:
            await User.filter(id=user.id).update(password_hash=verification.new_hash)
            # The same password, hashed anew: the remembered devices stay remembered (R18).
            await self._devices.password_rehashed(user, verification.new_hash)
        return None

    async def logout(self, session: Session, *, ip: str | None = None) -> bool:
        """End a session server-side (S18). True when it was still live."""
        ended = await end_session(session)
        if ended:
            await self._audit.record(AuditKind.LOGOUT, subject=session.user, data={"ip": ip})
        return ended

    async def _fail(self, user: User, ip: str | None, attempt: Attempt) -> None:
        # The verdict first: it is what the limits count, and nothing after it can lose it.
        locked_for = (await attempt.fail()).locked_for
        await self._audit.record(AuditKind.LOGIN_FAILED, subject=user, data={"reason": "wrong_password", "ip": ip})
        if locked_for is not None:
            await self._audit.record(
                AuditKind.PASSWORD_LOCKOUT,
                subject=user,
                data={"seconds": int(locked_for.total_seconds()), "ip": ip},
            )

    async def after_password(
        self, user: User, ip: str | None, user_agent: str | None = None
    ) -> PasswordAccepted | TooManyAttempts:
        """What a password proven elsewhere leads to (a reset by link, R16): the same answer as a login with
        it, through the same round of the password step. No remembered device is passed: a reset is never
        finished by a remembered browser (the new password would have forgotten it anyway, R18)."""
        async with lockout.attempt(user.id) as attempt:
            if attempt.refusal is not None:
                return TooManyAttempts(retry_after_seconds=FULL_RETRY_AFTER_SECONDS)
            return await self._after_password(user, ip, attempt, user_agent)

    async def _after_password(
        self, user: User, ip: str | None, attempt: Attempt, user_agent: str | None, device: str | None = None
    ) -> PasswordAccepted:
        """After a correct password: reset the lockout round (R12), then what the policy says comes next; a
        remembered `device` may take the place of the second factor (R18)."""
        try:
            step = await self._policy.next_step_after_password(user)
        except Exception:
            await attempt.succeed()  # the password was right, whatever failed after it
            raise
        if step is not NextStep.SESSION:
            await attempt.succeed()
        if step is NextStep.CONVERSION_REQUIRED:
            ticket = await issue_token(user, TokenPurpose.CONVERSION_TICKET, self._limits.ticket)
            # S33: in the log of each customer whose enforcement caused it, not of the user's other customers.
            causes = await self._policy.enforcing_customers(user)
            await self._audit.record_caused_by(AuditKind.CONVERSION_REQUIRED, causes, subject=user, data={"ip": ip})
            return ConversionRequired(ticket=ticket, email=user.email)
        if step is NextStep.CONVERSION_PENDING:
            # R4: this ticket can only re-send the invitation, to the address the conversion started with.
            ticket = await issue_token(user, TokenPurpose.CONVERSION_TICKET, self._limits.ticket, {"resend_only": True})
            return ConversionPending(ticket=ticket, sent_to=mask_email(user.pending_email or user.email))
        if step is NextStep.SECOND_FACTOR:
            remembered = await self._devices.sign_in(user, device, ip=ip, user_agent=user_agent) if device else None
            return remembered or await self._second_factor.challenge_for(user)
        user.last_login_at = utcnow()
        # The lockout reset and the login time in one statement.
        await attempt.succeed(last_login_at=user.last_login_at)
        new_session = await create_session(
            user, Assurance.PASSWORD, self._limits.sessions, ip=ip, user_agent=user_agent
        )
        await self._audit.record(AuditKind.LOGIN_SUCCEEDED, subject=user, data={"method": "password", "ip": ip})
        return LoginSuccess(user=user, session=new_session)
