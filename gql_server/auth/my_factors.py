"""A two-factor user's own factors (R15): what they change, each behind step-up (R14), each announced to
the account's address with a "this wasn't me" link (R13, S14), each audited.

Recovery codes: `regenerate_recovery_codes` replaces the whole set (S11); the new codes are shown once.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.factors import FactorCore
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.results import RecoveryCodesReplaced, RegenerateRecoveryCodesResult
from gql_server.auth.step_up import StepUpService
from gql_server.models import Session, User
from gql_server.outbox import Outbox


class MyFactors:
    """What a signed-in user does with their own second factors and recovery codes."""

    def __init__(
        self, core: FactorCore, step_up: StepUpService, notices: ChangeNotices, outbox: Outbox, auditor: Auditor
    ) -> None:
        self._core = core
        self._step_up = step_up
        self._notices = notices
        self._outbox = outbox
        self._audit = auditor

    async def regenerate_recovery_codes(
        self, session: Session | None, *, ip: str | None = None
    ) -> RegenerateRecoveryCodesResult:
        """A new set of recovery codes replaces the old one (S11), after a recent second factor (R14)."""
        user = await self._step_up.required(session)
        if not isinstance(user, User):
            return user
        async with in_transaction():
            codes = await self._core.replace_recovery_codes(user)
            notice = await self._notices.account_changed(user, "recovery_codes_replaced", "recovery_codes")
        self._outbox.deliver_later([notice])
        await self._audit.record(
            AuditKind.RECOVERY_CODES_REPLACED, actor=user, subject=user, data={"count": len(codes), "ip": ip}
        )
        return RecoveryCodesReplaced(recovery_codes=codes)
