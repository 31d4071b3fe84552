"""What the core does around every method (S5, S8, S10, S11, S23): one-time codes, the replay guard,
recovery codes, and calling plugins so that a failing plugin never counts as a valid code.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from tortoise.expressions import Q

from gql_server import metrics
from gql_server.auth.results import BadInput
from gql_server.clock import utcnow
from gql_server.crypto import Keyring
from gql_server.factors import (
    Account,
    CodeCheckingMethod,
    CodeDeliveringMethod,
    CodeDelivery,
    EnrollmentDraft,
    InvalidEnrollmentInput,
    LookupSecretMethod,
    Mailer,
    SecondFactorMethod,
)
from gql_server.models import EnrolledFactor, OneTimeCode, RecoveryCode, Token, User

log = logging.getLogger(__name__)

# S10: six digits, valid ten minutes.
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
RECOVERY_METHOD = "recovery_code"


@dataclass(frozen=True)
class SentCode:
    """A one-time code on its way to the user."""

    sent_to: str
    expires_at: datetime


class FactorCore:
    """The core's half of every second-factor method."""

    def __init__(
        self, methods: Mapping[str, SecondFactorMethod], keyring: Keyring, mailer: Mailer, plugin_timeout: float = 10.0
    ) -> None:
        self.methods = methods
        self.keyring = keyring
        self._mail = mailer
        # A plugin that hangs is cut off: the request answers, and the attempt still counts.
        self._timeout = plugin_timeout

    @property
    def recovery(self) -> LookupSecretMethod | None:
        """The installed recovery-code method, if any."""
        method = self.methods.get(RECOVERY_METHOD)
        return method if isinstance(method, LookupSecretMethod) else None

    async def begin(self, method: SecondFactorMethod, account: Account) -> EnrollmentDraft | BadInput | None:
        """Ask the plugin for a new factor's state; BadInput for unusable input, None when the plugin
        cannot (contained, logged)."""
        if not isinstance(method, CodeCheckingMethod | CodeDeliveringMethod):
            return None
        try:
            async with asyncio.timeout(self._timeout):
                return await method.begin_enrollment(account)
        except InvalidEnrollmentInput as exc:
            return BadInput(exc.message, exc.field)
        except Exception:
            log.exception("method %s failed to begin an enrollment", method.id)
            metrics.plugin_failed(method.id, "begin_enrollment")
            return None

    async def send_code(
        self,
        token: Token,
        method: CodeDeliveringMethod,
        state: Mapping[str, str],
        purpose: Literal["login", "enrollment"],
        locale: str,
    ) -> SentCode | None:
        """Make a fresh code for this token (replacing earlier ones, S10) and have the method deliver it."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        now = utcnow()
        delivery = CodeDelivery(state=state, code=code, purpose=purpose, expires_at=now + CODE_LIFETIME, locale=locale)
        await OneTimeCode.filter(token_id=token.id, used_at=None).update(used_at=now)
        try:
            async with asyncio.timeout(self._timeout):
                sent_to = await method.send_code(delivery, self._mail)
        except Exception:
            log.exception("method %s failed to deliver a code", method.id)
            metrics.plugin_failed(method.id, "send_code")
            return None
        await OneTimeCode.create(
            token=token,
            method=method.id,
            code_digest=self.keyring.code_digest(str(token.id), code),
            sent_to=sent_to,
            created_at=now,
            expires_at=delivery.expires_at,
        )
        return SentCode(sent_to=sent_to, expires_at=delivery.expires_at)

    async def check_sent_code(self, token: Token, method_id: str, code: str) -> bool:
        """Use the live code sent for this token, if `code` is it. Single use, also under races (S10)."""
        candidate = await OneTimeCode.filter(
            token_id=token.id, method=method_id, used_at=None, expires_at__gt=utcnow()
        ).first()
        if candidate is None or not self.keyring.same_digest(str(token.id), code.strip(), candidate.code_digest):
            return False
        return bool(await OneTimeCode.filter(id=candidate.id, used_at=None).update(used_at=utcnow()))

    async def check_with_plugin(self, method: CodeCheckingMethod, state: Mapping[str, str], code: str) -> int | None:
        """The plugin's verdict; a plugin that raises never counts as a valid code."""
        try:
            async with asyncio.timeout(self._timeout):
                counter = await method.verify(state, code)
        except Exception:
            log.exception("method %s failed to verify a code", method.id)
            metrics.plugin_failed(method.id, "verify")
            return None
        return counter if isinstance(counter, int) and not isinstance(counter, bool) else None

    async def accept_counter(self, factor: EnrolledFactor, counter: int) -> bool:
        """S8: accept a code's counter once. Anything at or before the last accepted one is a replay;
        of parallel uses of one code exactly one wins (conditional update)."""
        fresh = Q(last_counter=None) | Q(last_counter__lt=counter)
        return bool(
            await EnrolledFactor.filter(fresh, id=factor.id).update(last_counter=counter, last_used_at=utcnow())
        )

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

    async def notify(self, user: User, template: str, **values: object) -> None:
        """A security notification to the user (S14); a lost one is logged, never fatal to what happened."""
        try:
            await self._mail.send(template, to=user.email, locale=user.locale, **values)
        except Exception:
            log.exception("could not send the %s notification", template)
