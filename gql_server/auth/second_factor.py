"""The second step of a two-factor login (R6, R12; S5, S6, S7, S8, S10, S11, S35, S36, S37, S41).

Attempts are counted per challenge (5 wrong codes, then it is dead) and per user across challenges
(10 consecutive wrong codes lock the step with the password step's backoff; 100 in a row leave only
recovery codes, S41). Each resolver call is one attempt, so batching or aliasing cannot multiply them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from gql_server import lookups
from gql_server.audit import AuditKind, Auditor
from gql_server.auth import lockout
from gql_server.auth.devices import RememberedDevices
from gql_server.auth.factors import RECOVERY_METHOD, FactorCore, client_options, parse_response
from gql_server.auth.lockout import Attempt, Failure, Refusal
from gql_server.auth.results import (
    BeginSecondFactorResult,
    ChallengeExpired,
    CodeSent,
    InvalidCode,
    LoginResult,
    LoginSuccess,
    MethodNotAvailable,
    SecondFactorChallenge,
    SecondFactorRequired,
    SendLoginCodeResult,
    TooManyAttempts,
)
from gql_server.clock import utcnow
from gql_server.enums import Assurance, TokenPurpose
from gql_server.limits import (
    CHALLENGE_ATTEMPTS,
    CHALLENGE_LIFETIME,
    CHALLENGES_PER_TOKEN,
    CODES_PER_CHALLENGE,
    FULL_RETRY_AFTER_SECONDS,
    STREAK_CAP,
)
from gql_server.method_kinds import is_challenge_response, is_code_checking, is_code_delivering
from gql_server.models import EnrolledFactor, Token, User
from gql_server.outbox import Outbox, Queued
from gql_server.plugin_api import (
    ChallengeResponseMethod,
    SecondFactorMethod,
    Verified,
)
from gql_server.policy import Policy
from gql_server.ratelimit import Action, ClientRateLimiter
from gql_server.sessions import SessionPolicy, create_session
from gql_server.tokens import find_token, issue_token, reserve_attempt, use_token

log = logging.getLogger(__name__)

# S34, R16: a password reset by link proves the mailbox that received the link, and nothing else; the new
# password is then whatever the mailbox's holder chose. A method whose codes go to that same mailbox would let
# the mailbox alone finish the login with a two-factor session (and a fresh step-up, R14: the thief could
# change the address at once), whether right after the reset or at a login with the new password. So from a
# reset until a factor outside the mailbox is proven (a recovery code, TOTP, SMS: a login with it, or the
# enrollment of an operator's reset-factors invitation, R9), every login challenge leaves the mailbox's methods
# out, told apart by their capability metadata (`channel`) whichever plugin offers them. An email-only user
# with no recovery code left needs the operator's reset-factors. The one rule; a challenge's token data
# records the channels it leaves out, and what it lists, sends and accepts follows that record.
MAILBOX_CHANNELS: tuple[str, ...] = ("email",)
# The key, in a login challenge's (or a step-up token's) data, of the challenges begun for challenge-response
# methods: method id -> the method's pending part, encrypted.
PENDING = "pending"
# The key, in the same data, of how many challenges were begun on the token (at most CHALLENGES_PER_TOKEN).
BEGUN = "challenges_begun"
# The key, in a login challenge's token data, of the channels that challenge does not accept.
EXCLUDED_CHANNELS = "excluded_channels"
# The key, in the data of the PASSWORD_RESET token a reset used, saying that the password it set has not been
# followed by a factor outside the mailbox yet.
PASSWORD_FROM_MAILBOX = "password_from_mailbox"  # noqa: S105 (a key, not a secret)


def _begun(token: Token) -> int:
    count = token.data.get(BEGUN)
    return count if isinstance(count, int) else 0


def excluded_channels(challenge: Token) -> frozenset[str]:
    """The channels a login challenge does not accept (the mailbox's, while a reset's password is unproven)."""
    channels = challenge.data.get(EXCLUDED_CHANNELS)
    return frozenset(str(c) for c in channels) if isinstance(channels, list) else frozenset()


async def mark_password_from_mailbox(reset: Token) -> None:
    """Within the reset's transaction: the password the reset link `reset` set came from the mailbox alone
    (S34), and the login challenges leave the mailbox's methods out until a factor outside it is proven."""
    await Token.filter(id=reset.id).update(data={**reset.data, PASSWORD_FROM_MAILBOX: True})


async def password_from_mailbox(user: User) -> bool:
    """Whether the user's password was set by a reset link with no factor outside the mailbox proven since."""
    resets = await Token.filter(user_id=user.id, purpose=TokenPurpose.PASSWORD_RESET, used_at__isnull=False)
    return any(bool(reset.data.get(PASSWORD_FROM_MAILBOX)) for reset in resets)


async def password_proven(user: User) -> None:
    """A factor outside the mailbox was proven (or the factors start afresh, R9): the mailbox's methods count
    again at the user's logins."""
    await Token.filter(user_id=user.id, purpose=TokenPurpose.PASSWORD_RESET, used_at__isnull=False).update(data={})


def capped(user: User, method: SecondFactorMethod | None) -> bool:
    """S41: once the user's wrong answers in a row reached the cap, code methods stay locked until a recovery
    code or an operator reset. A challenge-response method's answer is a signature over a fresh challenge,
    which no number of tries can guess, so the cap does not lock it: an administrator who may sign in with
    passkeys only (requirePhishingResistantAdmins refuses recovery codes) keeps a way in. A success with it
    ends the streak, as a recovery code's does."""
    if method is None or method.id == RECOVERY_METHOD or is_challenge_response(method):
        return False
    return lockout.streak_capped(user)


@dataclass(frozen=True)
class Usable:
    """The methods a user's second step offers (`methods`, in order), and those of their factors a policy's
    `login_methods` refuses (`refused`: e.g. TOTP and recovery codes of an administrator whose customer
    requires phishing-resistant methods), which are answered MethodNotAvailable before anything is spent."""

    methods: list[SecondFactorMethod]
    refused: frozenset[str] = frozenset()

    @property
    def ids(self) -> set[str]:
        """The offered methods' ids."""
        return {m.id for m in self.methods}


@dataclass(frozen=True)
class Verdict:
    """The core's verdict on one code (for a login challenge or a step-up, R14)."""

    ok: bool
    factor: EnrolledFactor | None = None
    recovery_left: int | None = None
    replay: bool = False
    factor_touched: bool = False
    # S14: the notice of a recovery code used, written with the use.
    notice: Queued | None = None


class ChallengeTaken(Exception):
    """Another request ended the challenge (or the step-up token) first."""


class SecondFactorService:
    """Challenges, login codes and their verification."""

    def __init__(
        self,
        core: FactorCore,
        auditor: Auditor,
        outbox: Outbox,
        sessions: SessionPolicy,
        rate_limiter: ClientRateLimiter,
        devices: RememberedDevices,
        policy: Policy,
    ) -> None:
        self._policy = policy
        self._rate = rate_limiter
        self._core = core
        self._audit = auditor
        self._outbox = outbox
        self._sessions = sessions
        self._devices = devices

    async def challenge_for(self, user: User) -> SecondFactorRequired:
        """A new challenge after a correct password, listing the user's methods plus recovery_code; none of
        the mailbox's while the password comes from a reset link alone (S34, R16)."""
        excluded = list(MAILBOX_CHANNELS) if await password_from_mailbox(user) else []
        data: dict[str, object] | None = {EXCLUDED_CHANNELS: excluded} if excluded else None
        challenge = await issue_token(user, TokenPurpose.LOGIN_CHALLENGE, CHALLENGE_LIFETIME, data)
        return SecondFactorRequired(
            challenge=challenge,
            methods=await self.methods_of(user, excluded),
            remember_device_days=await self._devices.days_for(user),
        )

    async def methods_of(self, user: User, excluded: Collection[str] = ()) -> list[SecondFactorMethod]:
        """The installed methods the user has enrolled, then recovery_code; only recovery_code once the
        user's wrong codes reached the S41 cap (and challenge-response methods, see `capped`). None of the
        `excluded` channels (a challenge's), nor any a
        policy's `login_methods` refuses (`usable`)."""
        enrolled = await EnrolledFactor.filter(user_id=user.id).order_by("created_at").values_list("method", flat=True)
        usable = await self.usable(user, [str(m) for m in enrolled], excluded)
        return [m for m in usable.methods if not capped(user, m)]

    async def usable(self, user: User, enrolled: Sequence[str], excluded: Collection[str] = ()) -> Usable:
        """What the second step (login or step-up, R6, R14) offers a user with factors of the `enrolled`
        methods, less the `excluded` channels; the one place where a policy's `login_methods` narrows it
        (requirePhishingResistantAdmins: passkeys only, recovery codes refused, as they are phishable)."""
        methods = self._methods_among(enrolled, excluded)
        narrowed = await self._policy.login_methods(user, enrolled)
        if narrowed is None:
            return Usable(methods)
        return Usable(
            [m for m in methods if m.id in narrowed], frozenset(m.id for m in methods if m.id not in narrowed)
        )

    async def refusal(self, user: User, method_id: str, excluded: Collection[str] = ()) -> MethodNotAvailable | None:
        """MethodNotAvailable when a policy's `login_methods` refuses `method_id` for this user (before a code
        is sent or a challenge begun for it); None otherwise (the caller checks the rest)."""
        enrolled = await EnrolledFactor.filter(user_id=user.id).values_list("method", flat=True)
        usable = await self.usable(user, [str(m) for m in enrolled], excluded)
        return MethodNotAvailable(phishing_resistant_only=True) if method_id in usable.refused else None

    def _methods_among(self, enrolled: Iterable[str], excluded: Collection[str] = ()) -> list[SecondFactorMethod]:
        ids = list(dict.fromkeys(enrolled))
        if self._core.recovery is not None:
            ids.append(RECOVERY_METHOD)
        methods = [self._core.methods[m] for m in ids if m in self._core.methods]
        # Recovery codes are never left out: they are what finishes a login after a reset (S34).
        return [m for m in methods if m.id == RECOVERY_METHOD or m.channel not in excluded]

    async def send_login_code(
        self, raw_challenge: str, method_id: str, *, ip: str | None = None
    ) -> SendLoginCodeResult:
        """Send a code for a delivering method the user has enrolled (S10: a new code replaces the old;
        S36: a failed re-send keeps the code delivered before)."""
        retry_after = await self._rate.hit(Action.SEND_LOGIN_CODE, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        challenge = await find_token(raw_challenge, TokenPurpose.LOGIN_CHALLENGE)
        if challenge is None or challenge.attempts >= CHALLENGE_ATTEMPTS:
            return ChallengeExpired()
        method = self._core.methods.get(method_id)
        if capped(challenge.user, method):
            return MethodNotAvailable(recovery_only=True)
        if not is_code_delivering(method) or method.channel in excluded_channels(challenge):
            # A code to the mailbox that received the reset link is never sent for this challenge (S34).
            return MethodNotAvailable()
        refused = await self.refusal(challenge.user, method_id)
        if refused is not None:
            return refused
        factor = await EnrolledFactor.filter(user_id=challenge.user.id, method=method_id).first()
        if factor is None:
            return MethodNotAvailable()
        state = self._core.keyring.decrypt_state(factor.state_encrypted)
        sent = await self._core.send_code(
            challenge,
            method,
            state,
            "login",
            challenge.user.locale,
            limit=CODES_PER_CHALLENGE,
            account_email=challenge.user.email,
        )
        if sent is None:
            return MethodNotAvailable()
        if isinstance(sent, TooManyAttempts):
            return sent
        await self._audit.record(AuditKind.LOGIN_CODE_SENT, subject=challenge.user, data={"method": method_id})
        return CodeSent(sent_to=sent.sent_to, expires_at=sent.expires_at)

    async def begin_second_factor(
        self, raw_challenge: str, method_id: str, *, ip: str | None = None
    ) -> BeginSecondFactorResult:
        """For challenge-response methods (passkeys): the options the client answers with its response,
        sent as `code` to verifySecondFactor. A new challenge replaces the previous one of this method."""
        retry_after = await self._rate.hit(Action.SEND_LOGIN_CODE, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        challenge = await find_token(raw_challenge, TokenPurpose.LOGIN_CHALLENGE)
        if challenge is None or challenge.attempts >= CHALLENGE_ATTEMPTS:
            return ChallengeExpired()
        # No S41 check: the cap never locks a challenge-response method (`capped`).
        method = self._core.methods.get(method_id)
        if not is_challenge_response(method) or method.channel in excluded_channels(challenge):
            return MethodNotAvailable()
        refused = await self.refusal(challenge.user, method_id)
        if refused is not None:
            return refused
        return await self.challenge_options(challenge, challenge.user, method)

    async def challenge_options(
        self, token: Token, user: User, method: ChallengeResponseMethod
    ) -> SecondFactorChallenge | MethodNotAvailable | TooManyAttempts:
        """A challenge over the user's factors of `method`, its pending part kept with `token` (a login
        challenge or a step-up token), encrypted; MethodNotAvailable without such a factor."""
        factors = await EnrolledFactor.filter(user_id=user.id, method=method.id).order_by("created_at")
        if not factors:
            return MethodNotAvailable()
        if lockout.seconds_locked_in(user, lockout.SECOND_FACTOR_STEP):
            # Nothing to answer while the step is locked (S6): verify would refuse the response anyway.
            return TooManyAttempts(retry_after_seconds=lockout.seconds_locked_in(user, lockout.SECOND_FACTOR_STEP))
        if _begun(token) >= CHALLENGES_PER_TOKEN:
            retry = int((token.expires_at - utcnow()).total_seconds()) + 1
            return TooManyAttempts(retry_after_seconds=max(retry, 1))
        states = [self._core.keyring.decrypt_state(f.state_encrypted) for f in factors]
        begun = await self._core.begin_challenge(method, states)
        options = None if begun is None else client_options(begun.options)
        if begun is None or options is None:
            return MethodNotAvailable()
        async with in_transaction():
            # Read again with the row held: begins of other methods (or of this one) at the same moment each
            # keep theirs, and the count of begins is exact.
            held = await Token.select_for_update().get_or_none(id=token.id, used_at=None)
            if held is None:
                return MethodNotAvailable()
            if _begun(held) >= CHALLENGES_PER_TOKEN:
                return TooManyAttempts(retry_after_seconds=max(int((held.expires_at - utcnow()).total_seconds()), 1))
            stored = held.data.get(PENDING)
            pending: dict[str, object] = dict(stored) if isinstance(stored, dict) else {}
            pending[method.id] = self._core.keyring.encrypt_state(begun.pending)
            token.data = {**held.data, PENDING: pending, BEGUN: _begun(held) + 1}
            await Token.filter(id=token.id).update(data=token.data)
        return SecondFactorChallenge(options=options, expires_at=token.expires_at)

    def _pending(self, token: Token, method_id: str) -> dict[str, str] | None:
        """The pending part of the last challenge begun for `method_id` on `token`, if any."""
        pending = token.data.get(PENDING)
        stored = pending.get(method_id) if isinstance(pending, dict) else None
        return self._core.keyring.decrypt_state(stored) if isinstance(stored, str) else None

    async def verify(
        self,
        raw_challenge: str,
        method_id: str,
        code: str,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        remember_device: bool = False,
        device: str | None = None,
    ) -> LoginResult:
        """Check one code against a challenge; a session when it is right (R6), and with `remember_device`
        a remembered browser too when the user's customers allow it (R18; `device`: the browser's device
        cookie until now, which the new one replaces)."""
        retry_after = await self._rate.hit(Action.VERIFY_SECOND_FACTOR, ip)
        if retry_after is not None:
            return TooManyAttempts(retry_after_seconds=retry_after)
        challenge = await find_token(raw_challenge, TokenPurpose.LOGIN_CHALLENGE)
        if challenge is None:
            return ChallengeExpired()
        user = challenge.user
        # The user's factors, read once: which methods they may use here, and the ones to check.
        factors = await lookups.factors_of(user.id)
        usable = await self.usable(user, [f.method for f in factors], excluded_channels(challenge))
        if method_id in usable.refused:
            # Refused before anything is counted or spent: no attempt, no code used.
            return MethodNotAvailable(phishing_resistant_only=True)
        if method_id not in usable.ids:
            return MethodNotAvailable()
        if capped(user, self._core.methods.get(method_id)):
            return MethodNotAvailable(recovery_only=True)
        # A locked step is refused before anything is counted. The user row came with the challenge a
        # moment ago; the conditional update of `lockout.attempt` is what actually guards the limit.
        if lockout.seconds_locked_in(user, lockout.SECOND_FACTOR_STEP):
            return await self._locked(user, ip)
        # Leaving the block without a verdict (the check raised, the challenge was taken, the request was
        # cancelled) gives the place back and counts nothing (S35).
        async with lockout.attempt(user.id, lockout.SECOND_FACTOR_STEP) as attempt:
            if attempt.refusal is Refusal.LOCKED:
                return await self._locked(user, ip)
            if attempt.refusal is Refusal.FULL:
                return TooManyAttempts(retry_after_seconds=FULL_RETRY_AFTER_SECONDS)
            used = await reserve_attempt(challenge, CHALLENGE_ATTEMPTS)
            if used is None:
                return ChallengeExpired()
            mine = [f for f in factors if f.method == method_id]
            try:
                verdict = await self.check_code(challenge, user, method_id, code, mine)
            except ChallengeTaken:
                return ChallengeExpired()
            if not verdict.ok:
                return await self._wrong(used, user, method_id, verdict.replay, ip, attempt)
            success = await self._succeed(user, method_id, verdict, ip, attempt, user_agent)
        if excluded_channels(challenge):
            # A factor outside the mailbox was proven after a reset: its methods count again (S34). Should this
            # not be written, the next login asks for such a factor once more, which is the safe side.
            await password_proven(user)
        if remember_device:
            # Outside the attempt: its verdict is written and its place given back first (S35).
            remembered = await self._devices.remember(user, ip=ip, user_agent=user_agent, replacing=device)
            return LoginSuccess(user=success.user, session=success.session, device=remembered)
        return success

    async def _locked(self, user: User, ip: str | None) -> LoginResult:
        await self._audit.record(AuditKind.SECOND_FACTOR_REFUSED_LOCKED, subject=user, data={"ip": ip})
        return TooManyAttempts(retry_after_seconds=await lockout.seconds_locked(user.id, lockout.SECOND_FACTOR_STEP))

    async def check_code(
        self, challenge: Token, user: User, method_id: str, code: str, factors: list[EnrolledFactor]
    ) -> Verdict:
        """The verdict on one code, checked against `factors` (the user's of this method) and `challenge` (a
        login challenge or a step-up token, which a success ends). A code (recovery code, TOTP step, email
        code) is spent only in the short transaction that also ends the challenge: a parallel request that
        lost the challenge spends nothing."""
        if method_id == RECOVERY_METHOD:
            async with in_transaction():
                left = await self._core.use_recovery_code(user, code)
                await self._end_challenge_if(left is not None, challenge)
                notice = None
                if left is not None:
                    notice = await self._outbox.put(
                        "recovery_code_used", to=user.email, locale=user.locale, remaining=left
                    )
            return Verdict(ok=left is not None, recovery_left=left, notice=notice)
        method = self._core.methods[method_id]
        if is_code_delivering(method):
            async with in_transaction():
                ok = await self._core.check_sent_code(challenge, method_id, code)
                await self._end_challenge_if(ok, challenge)
            return Verdict(ok=ok, factor=factors[0] if ok and factors else None)
        # The plugin first, outside any transaction: a slow or hanging verify holds no lock and delays no
        # one else's request, on SQLite's single connection either (S37).
        checks: list[Coroutine[Any, Any, Verified | None]]
        if is_challenge_response(method):
            response = parse_response(code)
            pending = self._pending(challenge, method_id)
            if response is None or pending is None:
                # Not a JSON object, or no challenge was begun for this method: a wrong answer.
                return Verdict(ok=False)
            checks = [self._core.check_response(method, state, pending, response) for state in self._states(factors)]
        elif is_code_checking(method):
            checks = [self._core.check_with_plugin(method, state, code) for state in self._states(factors)]
        else:
            return Verdict(ok=False)
        # Every factor at once: a user's several factors of a slow or hanging method cost one timeout, not
        # one each (S37). The checks never raise (a plugin's failure is a wrong code).
        answers = await asyncio.gather(*checks)
        matched = [(factor, answer) for factor, answer in zip(factors, answers, strict=True) if answer is not None]
        async with in_transaction():
            for factor, verified in matched:
                if await self._core.accept_counter(factor, verified):
                    await self._end_challenge_if(True, challenge)
                    # accept_counter has set the factor's last_used_at already.
                    return Verdict(ok=True, factor=factor, factor_touched=True)
        # A right code whose step was accepted before: a replay (S8).
        return Verdict(ok=False, replay=bool(matched))

    def _states(self, factors: list[EnrolledFactor]) -> list[Mapping[str, str]]:
        return [self._core.keyring.decrypt_state(factor.state_encrypted) for factor in factors]

    @staticmethod
    async def _end_challenge_if(ok: bool, challenge: Token) -> None:
        if ok and not await use_token(challenge):
            # Rolls back what the transaction spent.
            raise ChallengeTaken

    async def _wrong(
        self, used: int, user: User, method_id: str, replay: bool, ip: str | None, attempt: Attempt
    ) -> LoginResult:
        """A wrong answer, the challenge's `used`-th attempt."""
        # The verdict first: it is what the limits count, and nothing after it can lose it.
        failure = await attempt.fail()
        if replay:
            await self._audit.record(AuditKind.REPLAY_REFUSED, subject=user, data={"method": method_id, "ip": ip})
        await self._audit.record(
            AuditKind.SECOND_FACTOR_FAILED, subject=user, data={"method": method_id, "ip": ip, "replay": replay}
        )
        await self.audit_limits(user, failure, ip)
        # S5: after the fifth wrong code `reserve_attempt` refuses the challenge; the user logs in again.
        return InvalidCode(attempts_left=CHALLENGE_ATTEMPTS - used, reused_code=replay)

    async def audit_limits(self, user: User, failure: Failure, ip: str | None) -> None:
        """Audit what a wrong code reached: a lockout (S6), the streak cap (S41: once, by the failure that
        reached it). Shared by the login step and step-up (R14), whose wrong codes count alike."""
        if failure.locked_for is not None:
            seconds = int(failure.locked_for.total_seconds())
            await self._audit.record(AuditKind.SECOND_FACTOR_LOCKOUT, subject=user, data={"seconds": seconds, "ip": ip})
        if failure.capped:
            await self._audit.record(
                AuditKind.SECOND_FACTOR_CAPPED, subject=user, data={"failures": STREAK_CAP, "ip": ip}
            )

    async def _succeed(
        self,
        user: User,
        method_id: str,
        verdict: Verdict,
        ip: str | None,
        attempt: Attempt,
        user_agent: str | None,
    ) -> LoginSuccess:
        now = utcnow()
        # The success resets the step's round, backoff and streak and records the login in one statement.
        await attempt.succeed(last_login_at=now)
        if verdict.factor is not None and not verdict.factor_touched:
            await EnrolledFactor.filter(id=verdict.factor.id).update(last_used_at=now)
        new_session = await create_session(
            user, Assurance.TWO_FACTOR, self._sessions, ip=ip, user_agent=user_agent, factor_verified=True
        )
        user.last_login_at = now
        await self._audit.record(AuditKind.LOGIN_SUCCEEDED, subject=user, data={"method": method_id, "ip": ip})
        if verdict.notice is not None:
            self._outbox.deliver_later([verdict.notice])
        if verdict.recovery_left is not None:
            await self._audit.record(
                AuditKind.RECOVERY_CODE_USED, subject=user, data={"remaining": verdict.recovery_left, "ip": ip}
            )
        return LoginSuccess(user=user, session=new_session)
