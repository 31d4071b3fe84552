"""What the core does around every method (S5, S8, S10, S11, S23, S36, S37): one-time codes, the replay
guard, recovery codes, and calling plugins so that a failing plugin never counts as a valid code.

Every plugin call runs on the plugin runner's threads under GQL_SERVER_PLUGIN_TIMEOUT_SECONDS (S37), and
never inside a database transaction or under a row lock (S36): a slow plugin delays only its own request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson
from tortoise.transactions import in_transaction

from gql_server import metrics, statements
from gql_server.auth.results import InvalidInput, TooManyAttempts
from gql_server.clock import utcnow
from gql_server.crypto import Keyring
from gql_server.limits import CLIENT_OPTIONS_MAX_BYTES, CODE_DIGITS, CODE_LIFETIME
from gql_server.method_kinds import is_challenge_response, is_code_checking, is_code_delivering, is_lookup_secret
from gql_server.models import EnrolledFactor, OneTimeCode, RecoveryCode, Token, User
from gql_server.plugin_api import (
    Account,
    ChallengeOptions,
    ChallengeResponseMethod,
    CodeCheckingMethod,
    CodeDeliveringMethod,
    CodeDelivery,
    EnrollmentDraft,
    InvalidEnrollmentInput,
    LookupSecretMethod,
    Mailer,
    SecondFactorMethod,
    Verified,
)
from gql_server.plugin_runner import MainLoopMailer, PluginRunner

log = logging.getLogger(__name__)

RECOVERY_METHOD = "recovery_code"


@dataclass(frozen=True)
class SentCode:
    """A one-time code on its way to the user."""

    sent_to: str
    expires_at: datetime


class FactorCore:
    """The core's half of every second-factor method."""

    def __init__(
        self, methods: Mapping[str, SecondFactorMethod], keyring: Keyring, mailer: Mailer, runner: PluginRunner
    ) -> None:
        self.methods = methods
        self.keyring = keyring
        self._mail = mailer
        # A plugin that blocks or hangs is cut off: the request answers, and the attempt still counts.
        self._runner = runner

    @property
    def recovery(self) -> LookupSecretMethod | None:
        """The installed recovery-code method, if any."""
        method = self.methods.get(RECOVERY_METHOD)
        return method if is_lookup_secret(method) else None

    async def begin(self, method: SecondFactorMethod, account: Account) -> EnrollmentDraft | InvalidInput | None:
        """Ask the plugin for a new factor's state; InvalidInput for unusable input, None when the plugin
        cannot (contained, logged)."""
        if not (is_code_checking(method) or is_code_delivering(method) or is_challenge_response(method)):
            return None
        try:
            draft = await self._runner.call(lambda: method.begin_enrollment(account))
        except InvalidEnrollmentInput as exc:
            return InvalidInput(exc.message, exc.field)
        except Exception:
            log.exception("method %s failed to begin an enrollment", method.id)
            metrics.plugin_failed(method.id, "begin_enrollment")
            return None
        # What the core stores and shows must be what it can: text state, JSON options of a bounded size.
        if (
            not isinstance(draft, EnrollmentDraft)
            or not _text_map(draft.state)
            or (draft.options is not None and client_options(draft.options) is None)
        ):
            log.error("method %s answered begin_enrollment with a draft the core cannot keep or show", method.id)
            metrics.plugin_failed(method.id, "begin_enrollment")
            return None
        return draft

    async def send_code(
        self,
        token: Token,
        method: CodeDeliveringMethod,
        state: Mapping[str, str],
        purpose: Literal["login", "enrollment"],
        locale: str,
        *,
        limit: int | None = None,
        account_email: str | None = None,
    ) -> SentCode | TooManyAttempts | None:
        """Make a fresh code for this token and have the method deliver it (S10, S36).

        The code is stored first, in a short transaction that also counts the token's codes against
        `limit` (exact across processes); the plugin delivers after commit, holding no lock. `account_email`:
        the account's address now, for methods whose codes go there (login and step-up codes). Once it is
        delivered, the token's older codes are replaced; when delivery fails, the new code is deleted and
        the ones delivered before stay valid. None when the method failed (logged).
        """
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        now = utcnow()
        async with in_transaction():
            # The token's row is held while its codes are counted and the new one is stored, so that
            # parallel requests cannot send more than the limit, in one process or several.
            await Token.select_for_update().filter(id=token.id).first()
            if limit is not None and await OneTimeCode.filter(token_id=token.id).count() >= limit:
                retry = int((token.expires_at - now).total_seconds()) + 1
                return TooManyAttempts(retry_after_seconds=max(retry, 1))
            stored = await OneTimeCode.create(
                token=token,
                method=method.id,
                code_digest=self.keyring.code_digest(str(token.id), code),
                # Where it went is known once the method has delivered it.
                sent_to="",
                created_at=now,
                expires_at=now + CODE_LIFETIME,
            )
        delivery = CodeDelivery(
            state=state,
            code=code,
            purpose=purpose,
            expires_at=stored.expires_at,
            locale=locale,
            account_email=account_email,
        )
        mailer = MainLoopMailer(self._mail, asyncio.get_running_loop())
        try:
            sent_to = await self._runner.call(lambda: method.send_code(delivery, mailer))
        except Exception:
            log.exception("method %s failed to deliver a code", method.id)
            metrics.plugin_failed(method.id, "send_code")
            # Nobody is known to have this code: it goes (and, as before it was stored first, a failed
            # send does not count against the limit); the codes delivered before it stay valid (S36).
            await OneTimeCode.filter(id=stored.id).delete()
            return None
        # Delivered: it replaces the token's older codes (S10). A request that died before this line
        # leaves both valid until they expire, which does no harm.
        await OneTimeCode.filter(token_id=token.id, used_at=None, created_at__lt=now).update(used_at=utcnow())
        await OneTimeCode.filter(id=stored.id).update(sent_to=str(sent_to))
        return SentCode(sent_to=str(sent_to), expires_at=stored.expires_at)

    async def check_sent_code(self, token: Token, method_id: str, code: str) -> bool:
        """Use a live code sent for this token, if `code` is one. Single use, also under races (S10).

        A token may have more than one live code for a moment (a re-send on its way, or one that died
        half-way); each is compared, in constant time and without stopping at the first match.
        """
        live = await OneTimeCode.filter(token_id=token.id, method=method_id, used_at=None, expires_at__gt=utcnow())
        typed = code.strip()
        matches = [c for c in live if self.keyring.same_digest(str(token.id), typed, c.code_digest)]
        if not matches:
            return False
        return bool(await OneTimeCode.filter(id=matches[0].id, used_at=None).update(used_at=utcnow()))

    async def check_with_plugin(
        self, method: CodeCheckingMethod, state: Mapping[str, str], code: str
    ) -> Verified | None:
        """The plugin's verdict, as Verified (a bare counter has no new state); a plugin that raises, or
        answers anything but a counter or a well-formed Verified, never counts as a valid code."""
        return await self._verdict(method.id, "verify", "verify a code", lambda: method.verify(state, code))

    async def begin_challenge(
        self, method: ChallengeResponseMethod, states: Sequence[Mapping[str, str]]
    ) -> ChallengeOptions | None:
        """The plugin's challenge over the user's factors of this method; None when it fails or answers
        anything but ChallengeOptions with text-to-text `pending` (contained, logged)."""
        try:
            answer = await self._runner.call(lambda: method.begin_challenge(states))
        except Exception:
            log.exception("method %s failed to begin a challenge", method.id)
            metrics.plugin_failed(method.id, "begin_challenge")
            return None
        if (
            not isinstance(answer, ChallengeOptions)
            or not _text_map(answer.pending)
            or client_options(answer.options) is None
        ):
            log.error("method %s answered begin_challenge with %s", method.id, type(answer))
            metrics.plugin_failed(method.id, "begin_challenge")
            return None
        return answer

    async def check_response(
        self,
        method: ChallengeResponseMethod,
        state: Mapping[str, str],
        pending: Mapping[str, str],
        response: Mapping[str, object],
    ) -> Verified | None:
        """The plugin's verdict on a structured response; a plugin that raises, or answers anything but a
        counter or a well-formed Verified, never counts as a valid response."""
        return await self._verdict(
            method.id,
            "verify_response",
            "verify a response",
            lambda: method.verify_response(state, pending, response),
        )

    async def finish_enrollment(
        self, method: ChallengeResponseMethod, state: Mapping[str, str], response: Mapping[str, object]
    ) -> Verified | None:
        """The plugin's verdict on a registration response: Verified with the new factor's state, or None
        (a failure, or an answer without a state, never enrolls anything)."""
        verified = await self._verdict(
            method.id, "finish_enrollment", "finish an enrollment", lambda: method.finish_enrollment(state, response)
        )
        if verified is not None and verified.state is None:
            log.error("method %s answered finish_enrollment without the new factor's state", method.id)
            metrics.plugin_failed(method.id, "finish_enrollment")
            return None
        return verified

    async def _verdict(
        self, method_id: str, hook: str, doing: str, call: Callable[[], Awaitable[object]]
    ) -> Verified | None:
        """One of a method's verdicts (`hook`: verify, verify_response, finish_enrollment) on the plugin
        runner (S37): Verified, or None for a wrong answer and for a plugin that raises or answers anything
        but a counter or a well-formed Verified (contained, logged, counted as the plugin's failure)."""
        try:
            answer = await self._runner.call(call)
        except Exception:
            log.exception("method %s failed to %s", method_id, doing)
            metrics.plugin_failed(method_id, hook)
            return None
        verified = _verified(answer)
        if verified is None and answer is not None:
            log.error("method %s answered %s with %s, neither a counter nor Verified", method_id, hook, type(answer))
            metrics.plugin_failed(method_id, hook)
        return verified

    async def accept_counter(self, factor: EnrolledFactor, verified: Verified) -> bool:
        """S8: accept a code's counter once, and store the method's new state with it. Anything at or
        before the last accepted counter is a replay; of parallel uses of one factor exactly one wins (one
        conditional update writes the counter and the state together)."""
        state = None if verified.state is None else self.keyring.encrypt_state(verified.state)
        return await statements.accept_counter(factor.id, verified.counter, state)

    async def replace_recovery_codes(self, user: User) -> list[str]:
        """S11: a new set of recovery codes replaces the whole old set; only digests are stored."""
        recovery = self.recovery
        await RecoveryCode.filter(user_id=user.id).delete()
        if recovery is None:
            return []
        codes = recovery.new_codes()
        now = utcnow()
        await RecoveryCode.bulk_create(
            [
                RecoveryCode(
                    user=user,
                    code_digest=self.keyring.code_digest(str(user.id), recovery.normalize(c)),
                    created_at=now,
                )
                for c in codes
            ]
        )
        return codes

    async def use_recovery_code(self, user: User, code: str) -> int | None:
        """Use one recovery code once; the number left, or None when the code is not a live one."""
        recovery = self.recovery
        if recovery is None:
            return None
        digest = self.keyring.code_digest(str(user.id), recovery.normalize(code))
        used = await RecoveryCode.filter(user_id=user.id, code_digest=digest, used_at=None).update(used_at=utcnow())
        if not used:
            return None
        return await RecoveryCode.filter(user_id=user.id, used_at=None).count()


async def recovery_codes_left(user: User) -> int:
    """R15: how many of the user's recovery codes are not used yet (of the set made last)."""
    return await RecoveryCode.filter(user_id=user.id, used_at=None).count()


def _verified(answer: object) -> Verified | None:
    """A verify answer as Verified, or None for a wrong code and for anything malformed (a bool is no
    counter; a state must map text to text, as every state the core stores)."""
    counter: object = answer.counter if isinstance(answer, Verified) else answer
    state: object = answer.state if isinstance(answer, Verified) else None
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0 or counter >= 2**63:
        return None
    if state is None:
        return Verified(counter)
    if not _text_map(state):
        return None
    assert isinstance(state, Mapping)
    return Verified(counter, dict(state))


def client_options(options: object) -> dict[str, object] | None:
    """A plugin's options for the client as the API sends them: a JSON object (text keys) that serialises,
    at most CLIENT_OPTIONS_MAX_BYTES; None for anything else (then the plugin's failure, never a 500)."""
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        return None
    try:
        encoded = orjson.dumps(dict(options))
    except TypeError:
        return None
    if len(encoded) > CLIENT_OPTIONS_MAX_BYTES:
        return None
    plain: dict[str, object] = orjson.loads(encoded)
    return plain


def _text_map(value: object) -> bool:
    """Whether `value` maps text to text, as every state the core stores."""
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def parse_response(code: str) -> dict[str, object] | None:
    """A challenge-response method's answer, sent as JSON text where other methods send a code: a JSON
    object, or None for anything else (which is then a wrong answer, never an error)."""
    try:
        value = json.loads(code)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
