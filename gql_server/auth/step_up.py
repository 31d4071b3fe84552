"""Step-up (R14): a sensitive operation needs a second factor verified in this session in the last
STEP_UP_WINDOW; `reauthenticate` verifies one again without a new login.

Step-up is not a side door around the login's second step (S5-S8, S41): each code is checked by the same
core (`SecondFactorService.check_code`: the replay guard, single-use delivered and recovery codes), counts
against the same per-user lockout and streak as the login step, and a session allows STEP_UP_ATTEMPTS
wrong codes in all: the last of them ends the session, so that a stolen session cookie buys no more
guesses than a login challenge does; after that the thief needs the password again.

`required` is the one gate every sensitive operation asks (adding, renaming or removing a factor, new
recovery codes, a password or email change for a two-factor user, accepting a linking invitation).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from tortoise.expressions import F

from gql_server.audit import AuditKind, Auditor
from gql_server.auth import lockout
from gql_server.auth.access import acting_user
from gql_server.auth.account_state import is_two_factor
from gql_server.auth.factors import FactorCore
from gql_server.auth.lockout import Attempt, Refusal
from gql_server.auth.results import (
    AuthenticationRequired,
    BeginSecondFactorResult,
    ChallengeExpired,
    CodeSent,
    InvalidCode,
    MethodNotAvailable,
    Reauthenticated,
    ReauthenticateResult,
    ReauthenticationRequired,
    SendLoginCodeResult,
    TooManyAttempts,
)
from gql_server.auth.second_factor import ChallengeTaken, SecondFactorService, Verdict, capped
from gql_server.clock import utcnow
from gql_server.enums import Assurance, TokenPurpose
from gql_server.limits import (
    CHALLENGE_LIFETIME,
    CODES_PER_CHALLENGE,
    FULL_RETRY_AFTER_SECONDS,
    STEP_UP_ATTEMPTS,
    STEP_UP_WINDOW,
)
from gql_server.method_kinds import is_challenge_response, is_code_delivering
from gql_server.models import EnrolledFactor, Session, Token, User
from gql_server.outbox import Outbox
from gql_server.policy import Policy
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.sessions import end_session
from gql_server.tokens import issue_token


async def _give_back(session: Session) -> None:
    """Return a step-up attempt taken from the session's budget that got no verdict."""
    await Session.filter(id=session.id, step_up_failures__gt=0).update(step_up_failures=F("step_up_failures") - 1)


def recently_verified(session: Session, now: datetime) -> bool:
    """Whether the session's second factor was verified within the step-up window (R14)."""
    return (
        session.assurance is Assurance.TWO_FACTOR
        and session.verified_at is not None
        and now - session.verified_at <= STEP_UP_WINDOW
    )


class StepUpService:
    """The R14 gate, and reauthentication within a session."""

    def __init__(
        self,
        second_factor: SecondFactorService,
        core: FactorCore,
        auditor: Auditor,
        outbox: Outbox,
        policy: Policy,
        rate_limiter: ClientRateLimiter,
    ) -> None:
        self._second_factor = second_factor
        self._core = core
        self._audit = auditor
        self._outbox = outbox
        self._policy = policy
        self._rate = rate_limiter

    async def required(self, session: Session | None) -> User | AuthenticationRequired | ReauthenticationRequired:
        """The acting user when `session` may do a sensitive operation now; otherwise why not.

        AuthenticationRequired without a session that satisfies the policy (R10); ReauthenticationRequired
        listing the user's methods when the second factor is older than the window (or was skipped through a
        remembered device, R18), and with no methods for a password user, who has no factor to verify (R14).
        """
        user = await acting_user(session, self._policy)
        if session is None or user is None:
            return AuthenticationRequired()
        # The session was read when the request began; a parallel request (a report, a password change,
        # a removed factor) may have ended it since. A sensitive change asks the database again.
        if not await Session.filter(id=session.id, ended_at=None).exists():
            return AuthenticationRequired()
        if not is_two_factor(user):
            return ReauthenticationRequired(methods=[])
        if recently_verified(session, utcnow()):
            return user
        methods = await self._second_factor.methods_of(user)
        return ReauthenticationRequired(methods=[m.id for m in methods])

    async def send_code(self, session: Session | None, method_id: str, *, ip: str | None = None) -> SendLoginCodeResult:
        """A code for reauthenticate, for methods that deliver one (S10 as at login: a new code replaces the
        old one, at most CODES_PER_CHALLENGE per step-up)."""
        retry_after = await self._rate.hit(Action.SEND_REAUTHENTICATION_CODE, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        user = await acting_user(session, self._policy)
        if session is None or user is None or not is_two_factor(user):
            # This union has no AuthenticationRequired: there is no step-up to send a code for.
            return ChallengeExpired()
        method = self._core.methods.get(method_id)
        if capped(user, method):
            return MethodNotAvailable(recovery_only=True)
        if not is_code_delivering(method):
            return MethodNotAvailable()
        refused = await self._second_factor.refusal(user, method_id)
        if refused is not None:
            return refused
        factor = await EnrolledFactor.filter(user_id=user.id, method=method_id).order_by("created_at").first()
        if factor is None:
            return MethodNotAvailable()
        token = await self._step_up_token(session, user)
        state = self._core.keyring.decrypt_state(factor.state_encrypted)
        sent = await self._core.send_code(
            token, method, state, "login", user.locale, limit=CODES_PER_CHALLENGE, account_email=user.email
        )
        if sent is None:
            return MethodNotAvailable()
        if isinstance(sent, TooManyAttempts):
            return sent
        await self._audit.record(
            AuditKind.LOGIN_CODE_SENT, subject=user, data={"method": method_id, "step_up": True, "ip": ip}
        )
        return CodeSent(sent_to=sent.sent_to, expires_at=sent.expires_at)

    async def begin_challenge(
        self, session: Session | None, method_id: str, *, ip: str | None = None
    ) -> BeginSecondFactorResult:
        """For challenge-response methods (passkeys): the options the client answers for reauthenticate (its
        response as JSON text in `code`), kept with the session's step-up token."""
        retry_after = await self._rate.hit(Action.SEND_REAUTHENTICATION_CODE, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        user = await acting_user(session, self._policy)
        if session is None or user is None or not is_two_factor(user):
            # As sendReauthenticationCode: there is no step-up to begin (this union has no AuthenticationRequired).
            return ChallengeExpired()
        # No S41 check: the cap never locks a challenge-response method (`capped`).
        method = self._core.methods.get(method_id)
        if not is_challenge_response(method):
            return MethodNotAvailable()
        refused = await self._second_factor.refusal(user, method_id)
        if refused is not None:
            return refused
        token = await self._step_up_token(session, user)
        return await self._second_factor.challenge_options(token, user, method)

    async def reauthenticate(
        self, session: Session | None, method_id: str, code: str, *, ip: str | None = None
    ) -> ReauthenticateResult:
        """Verify one code of the user's own factors in this session; on success `verifiedAt` is now."""
        retry_after = await self._rate.hit(Action.REAUTHENTICATE, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        user = await acting_user(session, self._policy)
        if session is None or user is None:
            return AuthenticationRequired()
        if not is_two_factor(user):
            return MethodNotAvailable()
        factors = await EnrolledFactor.filter(user_id=user.id).order_by("created_at")
        usable = await self._second_factor.usable(user, [f.method for f in factors])
        if method_id in usable.refused:
            # Refused before the session's budget or the lockout counts anything, and before a code is spent.
            return MethodNotAvailable(phishing_resistant_only=True)
        at_cap = capped(user, self._core.methods.get(method_id))
        if method_id not in usable.ids or at_cap:
            return MethodNotAvailable(recovery_only=at_cap)
        if lockout.seconds_locked_in(user, lockout.SECOND_FACTOR_STEP):
            return await self._locked(user, ip)
        async with lockout.attempt(user.id, lockout.SECOND_FACTOR_STEP) as attempt:
            if attempt.refusal is Refusal.LOCKED:
                return await self._locked(user, ip)
            if attempt.refusal is Refusal.FULL:
                return TooManyAttempts(retry_after_seconds=FULL_RETRY_AFTER_SECONDS)
            return await self._attempt(session, user, method_id, code, factors, attempt, ip)

    async def _attempt(
        self,
        session: Session,
        user: User,
        method_id: str,
        code: str,
        factors: list[EnrolledFactor],
        attempt: Attempt,
        ip: str | None,
    ) -> ReauthenticateResult:
        # The session's budget is taken before the code is looked at (S5: parallel requests cannot exceed it).
        taken = await Session.filter(id=session.id, ended_at=None, step_up_failures__lt=STEP_UP_ATTEMPTS).update(
            step_up_failures=F("step_up_failures") + 1
        )
        if not taken:
            await end_session(session)
            return AuthenticationRequired()
        mine = [f for f in factors if f.method == method_id]
        try:
            token = await self._step_up_token(session, user)
            verdict = await self._second_factor.check_code(token, user, method_id, code, mine)
        except ChallengeTaken:
            # A parallel request of this session succeeded with its code first: the session is stepped up.
            await _give_back(session)
            fresh = await Session.get(id=session.id)
            if recently_verified(fresh, utcnow()):
                return Reauthenticated(session=fresh)
            return InvalidCode(attempts_left=STEP_UP_ATTEMPTS - fresh.step_up_failures)
        except BaseException:
            # No verdict (the database failed, the request was cancelled): the guess counts nothing (S35).
            await asyncio.shield(_give_back(session))
            raise
        if verdict.ok:
            return await self._succeed(session, user, method_id, verdict, attempt, ip)
        return await self._wrong(session, user, method_id, verdict, attempt, ip)

    async def _succeed(
        self, session: Session, user: User, method_id: str, verdict: Verdict, attempt: Attempt, ip: str | None
    ) -> ReauthenticateResult:
        now = utcnow()
        await attempt.succeed()
        # Only a session still live is stepped up: one ended meanwhile (a report, a password change) stays so.
        if not await Session.filter(id=session.id, ended_at=None).update(verified_at=now, step_up_failures=0):
            return AuthenticationRequired()
        session.verified_at, session.step_up_failures = now, 0
        if verdict.factor is not None and not verdict.factor_touched:
            await EnrolledFactor.filter(id=verdict.factor.id).update(last_used_at=now)
        await self._audit.record(
            AuditKind.REAUTHENTICATED, actor=user, subject=user, data={"method": method_id, "ip": ip}
        )
        if verdict.notice is not None:
            self._outbox.deliver_later([verdict.notice])
        if verdict.recovery_left is not None:
            await self._audit.record(
                AuditKind.RECOVERY_CODE_USED, subject=user, data={"remaining": verdict.recovery_left, "ip": ip}
            )
        return Reauthenticated(session=session)

    async def _wrong(
        self, session: Session, user: User, method_id: str, verdict: Verdict, attempt: Attempt, ip: str | None
    ) -> ReauthenticateResult:
        failure = await attempt.fail()
        if verdict.replay:
            await self._audit.record(AuditKind.REPLAY_REFUSED, subject=user, data={"method": method_id, "ip": ip})
        await self._audit.record(
            AuditKind.SECOND_FACTOR_FAILED,
            subject=user,
            data={"method": method_id, "ip": ip, "replay": verdict.replay, "step_up": True},
        )
        await self._second_factor.audit_limits(user, failure, ip)
        used = (await Session.get(id=session.id)).step_up_failures
        left = max(STEP_UP_ATTEMPTS - used, 0)
        if left == 0:
            # The session's last guess: whoever holds it signs in again, password first.
            await end_session(session)
            await self._audit.record(
                AuditKind.SESSION_ENDED, subject=user, data={"session": str(session.id), "reason": "step_up", "ip": ip}
            )
        return InvalidCode(attempts_left=left, reused_code=verdict.replay)

    async def _locked(self, user: User, ip: str | None) -> TooManyAttempts:
        await self._audit.record(AuditKind.SECOND_FACTOR_REFUSED_LOCKED, subject=user, data={"ip": ip, "step_up": True})
        return TooManyAttempts(retry_after_seconds=await lockout.seconds_locked(user.id, lockout.SECOND_FACTOR_STEP))

    @staticmethod
    async def _step_up_token(session: Session, user: User) -> Token:
        """The session's live step-up token (what its sent codes and its success hang on), or a new one."""
        live = await Token.filter(
            user_id=user.id, purpose=TokenPurpose.REAUTHENTICATION, used_at=None, expires_at__gt=utcnow()
        ).order_by("-created_at")
        for token in live:
            if token.data.get("session") == str(session.id):
                return token
        issued = await issue_token(
            user, TokenPurpose.REAUTHENTICATION, CHALLENGE_LIFETIME, {"session": str(session.id)}
        )
        return issued.record
